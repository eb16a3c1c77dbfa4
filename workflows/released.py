"""The fingerprints of the released workflow versions (``hanport.workflows.versions``).

A released version never changes: a test compares every entry here with the declared
definition. To release a new version, declare it beside the old one and run
``python -m hanport.entrypoints.release NAME@VERSION``, which adds its line here.
"""

# nore_open@2 was re-recorded once, on 2026-12-04, before its first deployment (no database
# outside the tests held a case on it): its record_consent gained the customer among its
# actors, for the public order-and-consent form it was declared for. From here it is fixed.
RELEASED: dict[str, str] = {
    "close_port@1": "eedacc14487688c0e3316d1ef3e9664827aac5ebc6ca131cccada908f8212009",
    "close_port@2": "d9a68bce0ac34b7b8421943a2879f48ac2131292a8d0f0c8885eb7cbf4430826",
    "meter_swap@1": "b59557d2747415603315f103408da0ddb79834a2917bee68b4c244c68c168107",
    "nore_open@1": "5062204afbe6a7f8508aaec880b572f5b81515fd06ab832be5dd5ef0f817281b",
    "nore_open@2": "0083c9f8e1df4ef7d5a6d80ac3a44abebb14910fc70533dd2ccfd2034c77b41b",
    "privacy_request@1": "138e95b9db4d29768e090ef2a4195b754ee653a5fb59724aaa6d389d4802376f",
}
