"""
twistd's log file with a bounded number of rotated files.

twistd rotates its ``--logfile`` every megabyte and keeps every rotated
file, so a server that logs a lot (a hostile client's stream errors, say)
fills its disk in the end. twistd uses a log observer set on the
application instead of its own when there is one; the service tree sets
one that writes the same file, rotated at ``[server] log_rotate_length``,
keeping ``[server] log_rotated_files`` old files. Where twistd would not
write a file (``--logfile=-``, ``--syslog``, ``--logger``, ``--nodaemon``
without ``--logfile``), nothing changes.
"""

import signal

from twisted.logger import ILogObserver, textFileLogObserver
from twisted.python import logfile


def twistdLogFile(twistdOptions):
    """The file twistd would log to with these options, or None."""
    if twistdOptions is None:
        return None
    if twistdOptions.get("syslog") or twistdOptions.get("logger"):
        return None
    name = twistdOptions.get("logfile") or ""
    if name == "-" or (twistdOptions.get("nodaemon") and not name):
        return None
    return name or "twistd.log"


def installRotatingLog(application, twistdOptions, rotateLength, rotatedFiles):
    """Set the bounded log observer on twistd's application, if twistd logs to a file."""
    name = twistdLogFile(twistdOptions)
    if name is None or application.getComponent(ILogObserver, None) is not None:
        return None
    logFile = logfile.LogFile.fromFullPath(
        name, rotateLength=rotateLength, maxRotatedFiles=rotatedFiles)
    if not signal.getsignal(signal.SIGUSR1):
        # As twistd does: SIGUSR1 rotates the file (logrotate's postrotate).
        def rotate(signum, frame):
            from twisted.internet import reactor
            reactor.callFromThread(logFile.rotate)
        signal.signal(signal.SIGUSR1, rotate)
    application.setComponent(ILogObserver, textFileLogObserver(logFile))
    return logFile
