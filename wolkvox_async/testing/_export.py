"""The simulator's campaign_15 export row: every field the docs list (§5 #15), in their
order, with the Spanish names the export uses, filled from what the simulator knows of a
record (as loaded, its dial attempts, its last codification).

The docs list the fields but show no values, so the filling is the simulator's reading;
the choices are in :func:`exported`'s docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ._state import Attempt, Campaign, Management

__all__ = ["EXPORT_KEYS", "exported"]

_DATE: Final = "%Y-%m-%d %H:%M:%S"


EXPORT_KEYS: Final = (
    *("nombre_cliente", "apellido_cliente", "tipo_doc", "id_cliente", "edad", "sexo", "pais"),
    *("departamento", "ciudad", "zona", "direccion"),
    *(f"opt{i}" for i in range(1, 13)),
    *(f"tel{i}" for i in range(1, 11)),
    *("tel_extra", "id_agent", "resultado", "fecha", "llamadas", "id_call", "cod_rslt1"),
    *("description_cod1", "cod_rslt2", "description_cod2", "comentarios", "rellamada"),
    *("rellamada_count", "email", "rellamada_tel", "last_dial_tele", "history_dial_tel"),
    "rellamada_info",
)
"""Every field of a campaign_15 record, in the documented order (§5 #15)."""
_SPANISH = {
    "customer_name": "nombre_cliente",
    "customer_last_name": "apellido_cliente",
    "id_type": "tipo_doc",
    "customer_id": "id_cliente",
    "age": "edad",
    "gender": "sexo",
    "country": "pais",
    "state": "departamento",
    "city": "ciudad",
    "zone": "zona",
    "address": "direccion",
    "agent_id": "id_agent",
    "recall_date": "rellamada",
    "recall_telephone": "rellamada_tel",
}


def exported(camp: Campaign, record: Mapping[str, str], code: Management | None) -> dict[str, str]:
    """A record as campaign_15 gives it: every documented field, blank when unknown.

    The docs list the fields but show no values: the simulator fills them from what it
    knows — the record as loaded, its dial attempts (last result in the export's spaced
    words, date, count, conn_id, last number dialled) and its last codification. Its
    choices: ``history_dial_tel`` is the numbers dialled, oldest first, comma-separated;
    ``rellamada`` the record's recall_date as loaded; ``rellamada_count`` "0",
    ``description_cod*`` and ``rellamada_info`` blank (no activity-code catalogue, no
    agent recalls here).
    """
    row = dict.fromkeys(EXPORT_KEYS, "")
    for key, value in record.items():
        row[_SPANISH.get(key, key)] = value
    dials: list[Attempt] = camp.dials_of(record.get("customer_id", ""))
    last = dials[-1] if dials else None
    row.update(
        resultado=last.result.replace("-", " ") if last else "",  # ANSWER MACHINE (§7)
        fecha=last.at.strftime(_DATE) if last else "",
        llamadas=str(len(dials)),
        id_call=last.conn_id if last else "",
        cod_rslt1=code.cod_act if code else (last.cod_act if last else ""),
        cod_rslt2=code.cod_act_2 if code else "",
        comentarios=code.comment if code else "",
        rellamada_count="0",
        last_dial_tele=last.telephone if last else "",
        history_dial_tel=",".join(a.telephone for a in dials),
    )
    return row
