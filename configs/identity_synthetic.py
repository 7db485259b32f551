"""Pretraining E2 on the synthetic demo identities (``make demo``'s data).

A reduced IResNet on the 32x32 renders; a few hundred steps on CPU. The
``data`` section matches ``jaxface make-data --identities 384
--test-identities 32 --views 8 --size 32 --data-dir data``: verification
is scored on pairs of the 32 held-out identities.
"""

import ml_collections


def get_config(arg=None):
  """The config; ``arg="tiny"`` shrinks it to seconds for smoke tests."""
  config = ml_collections.ConfigDict()
  config.identity = ml_collections.ConfigDict(dict(
      kind="iresnet", layers=(1, 1, 1, 1), width=16, input_size=32,
      embedding_dim=128))
  config.loss = ml_collections.ConfigDict(dict(
      kind="arcface", scale=32.0, margin=0.5))  # CosFace: margin 0.35
  config.optim = ml_collections.ConfigDict(dict(
      kind="adam", lr=1e-3, momentum=0.9, weight_decay=5e-4,
      schedule="cosine"))
  config.data = ml_collections.ConfigDict(dict(
      name="synthetic_faces", data_dir="data", train_identities=384,
      test_identities=32, views=8, image_size=32, seed=0))
  config.train = ml_collections.ConfigDict(dict(
      batch_size=64, num_steps=400, seed=0, augment=True))
  config.eval = ml_collections.ConfigDict(dict(num_pairs=2000, seed=0))
  config.log = ml_collections.ConfigDict(dict(progress_bar=True))
  if arg == "tiny":
    config.identity.update(width=8, embedding_dim=32)
    config.train.update(batch_size=16, num_steps=5)
    config.eval.num_pairs = 200
  return config
