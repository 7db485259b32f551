"""The demo config as the rows of this directory ran it, up to "Q at 32x32".

``configs/small_cpu.py`` has since taken the object's density unscaled and
the lighter identity branch ("Density scale 1 at the demo's 32x32"); the
rows' scripts read this file so that they still train what their JSON lines
record: density scale 4, the full branch, 900 steps. ``demo_900.json`` is
``configs/small_cpu.py`` before that change, key for key, and a test holds
this file to it: a later change to the demo config must be undone here too.
"""

import pathlib
import runpy

_DEMO = runpy.run_path(
    str(pathlib.Path(__file__).parents[2] / "configs" / "small_cpu.py"))


def get_config(arg=None):
  config = _DEMO["get_config"](arg)
  config.render.density_scale = 4.0
  config.loss.update(identity_random_weight=0.5, recon_gan_weight=0.5)
  config.identity.q_width = 32
  config.train.num_steps = 900
  config.ckpt.every_steps = 300
  config.log.update(every_steps=50, images_every_steps=300,
                    eval_every_steps=300)
  return config
