"""A griffe extension for the API reference: WolkvoxClient takes its public methods from
the endpoint groups it is made of (``name = _method(Group.name)`` in its class body, bound
per client at construction). Read statically, those are attributes; this shows each as
the client's method, with the group's signature and docstring."""

from __future__ import annotations

import copy
import re
from typing import Any

import griffe

_TAKEN = re.compile(r"^_method\((\w+)\.(\w+)\)$")


class ClientMethods(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.path != "wolkvox_async":
            return
        client = pkg["client"]
        cls = client["WolkvoxClient"]
        for name, member in list(cls.members.items()):
            if not isinstance(member, griffe.Attribute) or member.value is None:
                continue
            taken = _TAKEN.match(str(member.value))
            if taken is None:
                continue
            group, method = taken.groups()
            source = client[group][method]  # through the module's import of the group
            if isinstance(source, griffe.Alias):
                source = source.final_target
            shown = copy.copy(source)
            shown.parent = cls
            shown.lineno, shown.endlineno = member.lineno, member.endlineno
            cls.set_member(name, shown)
