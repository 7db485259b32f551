"""A config for tests: a few steps in seconds on one CPU core."""

import pathlib
import runpy

_BASE = runpy.run_path(str(pathlib.Path(__file__).with_name("small_cpu.py")))


def get_config(arg=None):
  config = _BASE["get_config"](arg)
  config.render.update(feature_size=8, num_samples=4)
  # GIRAFFE's MLP field (the demo's is the tri-plane): tests of the
  # tri-plane set field.kind.
  config.field.update(kind="mlp", hidden=16, num_layers=3, skips=(1,),
                      pos_freqs=3, view_freqs=2, z_shape_dim=8, z_app_dim=8,
                      feature_dim=8, bg_hidden=8, z_bg_shape_dim=4,
                      z_bg_app_dim=4)
  config.neural_renderer.update(num_features=16, min_features=8)
  config.disc.num_features = 32
  # Plain GIRAFFE by default; tests turn the branch on where they need it.
  for name in list(config.loss.keys()):
    if name not in ("r1_weight", "pose_pitch_weight"):
      config.loss[name] = 0.0
  config.identity.update(encoder_dir="", e1_width=8, q_width=8, q_hidden=32)
  # Rays through pixel centres and unpaired batches, so that tests can
  # compare renders with fixed rays and train on unlabelled image folders;
  # tests of pixel jitter and of pairs turn them on.
  config.render.pixel_jitter = False
  config.data.update(image_size=32, train_identities=4, test_identities=2,
                     views=2, num_workers=0, pairs=False)
  # XLA's default convolutions: tests compare G's update across programs
  # (with and without encoder-only terms) to 1e-6, and XLA's own
  # convolutions round them 5e-6 apart; xla_cpu_test covers the option.
  config.train.update(batch_size=8, num_steps=2, ynn_convolutions=True)
  config.ckpt.update(every_steps=1, async_save=False)
  config.log.update(every_steps=1, images_every_steps=0, num_sample_faces=2,
                    num_sample_views=3, progress_bar=False,
                    eval_every_steps=0)
  return config
