"""steward: the Pond (open/init, transactions, control table, write lock, recovery, maintenance)."""

from duckpond.steward.control import TxnRecord
from duckpond.steward.pond import MaintenanceReport, Pond, RecoveryReport, Transaction

__all__ = ["MaintenanceReport", "Pond", "RecoveryReport", "Transaction", "TxnRecord"]
