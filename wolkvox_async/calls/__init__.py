"""One request's path, from its arguments built into a request to its answer read.

``_call`` (the caller: admit, send, release, retry),
``_protocol`` (sans-I/O: a request built, an answer parsed), ``_transport`` (aiohttp),
``_convert`` and ``_fastrows`` (answers into typed rows), ``_routes`` (every endpoint,
as constants). Internal: the public names are re-exported by :mod:`wolkvox_async`.
"""
