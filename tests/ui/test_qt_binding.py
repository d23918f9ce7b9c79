"""Guards against Qt binding bugs that Cove has met."""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
from pytestqt.qtbot import QtBot


class Emitter(QObject):
    sig_flag = Signal(bool)
    sig_mixed = Signal(int, object, bool)


def test_signals_with_bool_arguments_keep_reference_counts(qtbot: QtBot) -> None:
    # PySide6 6.12.0 dropped a reference to True/False per emission; CPython 3.11 then
    # aborts at exit ("deallocating True or False"). Cove's signals carry bools.
    emitter = Emitter()
    receiver = Emitter()
    emitter.sig_flag.connect(receiver.sig_flag, Qt.ConnectionType.QueuedConnection)
    emitter.sig_mixed.connect(lambda *_args: None)
    gc.collect()
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(200):
        emitter.sig_flag.emit(True)
        emitter.sig_mixed.emit(1, None, False)
    QCoreApplication.processEvents()
    gc.collect()
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert after[0] - before[0] > -50 and after[1] - before[1] > -50, (before, after)
