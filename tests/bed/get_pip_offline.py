"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads from ansible's CI file host.

That host is unreachable here, while PyPI is. ansible-test runs this file (from its cache folder,
as ``get_pip_<version>.py``) with get-pip's command line: pip options, the packages to install, and
get-pip's own ``--no-setuptools`` / ``--no-wheel`` switches. Python's bundled ensurepip provides a
first pip, which then installs exactly the requested packages from PyPI.
"""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)
