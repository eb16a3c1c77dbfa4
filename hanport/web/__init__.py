"""The customer's door: ``hanport serve``, a Litestar application that renders the order,
swap, close and status pages server-side (Jinja2) and hands every well-formed submission to the
service layer as an intake. Pages in bokmål (``/nb/``, the default), nynorsk (``/nn/``) and
English (``/en/``); they work without JavaScript.

The web layer calls only the service layer's intake commands, the customer-status query and the
link signer (:mod:`hanport.web.engine` names each call); it holds no SQL.
"""
