"""The endpoint groups the client is composed of, and the checks of what a user gives.

:class:`~wolkvox_async.WolkvoxClient` is assembled from these groups; ``_validate`` and
``_records`` refuse bad input before anything is sent.

The layers, each using only those below it: ``client.py`` (the public class) →
``endpoints`` (one typed method per Wolkvox endpoint: ``_campaign_methods``,
``_campaign_admin``, ``_report_methods``, ``_operation_methods``; ``_validate`` and
``_records`` check arguments and records) → ``calls`` (one request's path) →
``scheduler`` (the token's limits) → ``models``. ``bulk`` and ``cli`` sit above
``endpoints``. Internal: the public names are re-exported by :mod:`wolkvox_async`.
"""
