"""The demo config as the rows of this directory ran it, up to "Q at 32x32".

``configs/small_cpu.py`` has since taken the object's density unscaled and
the lighter identity branch ("Density scale 1 at the demo's 32x32"); the
rows' scripts read this file so that they still train what their JSON lines
record: density scale 4, the full branch, 900 steps. ``demo_900.json`` is
``configs/small_cpu.py`` as it was then, key for key, read as a run's
stored config is read: entries added to the code since get the value the
rows ran with (``workdir.ADDED_ENTRIES``).
"""

import pathlib

from jaxface import workdir


def get_config(arg=None):
  del arg
  return workdir.read_config(pathlib.Path(__file__).with_name("demo_900.json"))
