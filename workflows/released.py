"""The fingerprints of the released workflow versions (``hanport.workflows.versions``).

A released version never changes: a test compares every entry here with the declared
definition. To release a new version, declare it beside the old one and run
``python -m hanport.entrypoints.release NAME@VERSION``, which adds its line here.
"""

RELEASED: dict[str, str] = {
    "close_port@1": "eedacc14487688c0e3316d1ef3e9664827aac5ebc6ca131cccada908f8212009",
    "meter_swap@1": "b59557d2747415603315f103408da0ddb79834a2917bee68b4c244c68c168107",
    "nore_open@1": "5062204afbe6a7f8508aaec880b572f5b81515fd06ab832be5dd5ef0f817281b",
    "nore_open@2": "3fd9f1cc5b1c26478920e06ef3739980895f6a121de7fe0de2bc87174e7f5def",
}
