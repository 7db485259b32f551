"""Pretraining E2, the face-identity encoder, with a margin softmax loss.

Without network access there are no downloadable face-recognition weights, so
E2 can be trained here on any identity-labelled face set (see DESIGN.md, "The
pretrained face-identity encoder E2"). The encoder and a class-weight matrix
are trained with ArcFace (additive angular margin) or CosFace (additive cosine
margin) logits; the result is judged by face verification on pairs of
held-out identities and saved with ``identity_import.save_identity_encoder``,
so the rest of jaxface loads it like an imported checkpoint.

BatchNorm: the E2 modules build their BatchNorm layers in inference mode. For
training they are switched to batch statistics (``model.train()``), and the
running statistics they update are what the saved, frozen encoder uses.
"""

import json
import pathlib
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm
from flax import nnx

from jaxface import errors
from jaxface import identity
from jaxface import identity_import
from jaxface import layers
from jaxface.data import input_pipeline

# Keeps sin(theta) = sqrt(1 - cos^2) and its gradient finite at cos = +-1.
_SIN_EPSILON = 1e-7
# PyTorch's BatchNorm momentum 0.1; flax's default 0.99 would leave the
# running statistics close to their initial values after a short run.
_BN_MOMENTUM = 0.9


# ----------------------------------------------------------------------------
# Margin losses (pure).


def _cosines(embeddings: jax.Array, weights: jax.Array) -> jax.Array:
  """[b, d] embeddings, [d, c] class weights -> [b, c] cosine similarities."""
  return (layers.l2_normalize(embeddings)
          @ layers.l2_normalize(weights, axis=0))


def arcface_logits(embeddings: jax.Array, weights: jax.Array,
                   labels: jax.Array, scale: float,
                   margin: float) -> jax.Array:
  """ArcFace logits: s*cos(theta + m) for the target class, s*cos(theta) else.

  Both embeddings and class weights are normalised, so theta is the angle
  between a sample and a class centre. Past theta = pi - m, cos(theta + m)
  would rise again and reward moving away from the class; there the target
  logit continues linearly as s*(cos(theta) - m*sin(m)), as in insightface.

  Args:
    embeddings: [batch, dim], any norm.
    weights: [dim, num_classes] class centres, any norm.
    labels: [batch] int class indices.
    scale: s, the norm the logits are scaled to.
    margin: m, the additive angular margin in radians.

  Returns:
    [batch, num_classes] logits.
  """
  cos = _cosines(embeddings, weights)
  target = jax.nn.one_hot(labels, cos.shape[-1], dtype=bool)
  cos_target = jnp.sum(jnp.where(target, cos, 0.0), axis=-1)
  sin_target = jnp.sqrt(jnp.clip(1.0 - cos_target**2, _SIN_EPSILON, 1.0))
  shifted = cos_target * np.cos(margin) - sin_target * np.sin(margin)
  shifted = jnp.where(cos_target > np.cos(np.pi - margin), shifted,
                      cos_target - margin * np.sin(margin))
  return scale * jnp.where(target, shifted[:, None], cos)


def cosface_logits(embeddings: jax.Array, weights: jax.Array,
                   labels: jax.Array, scale: float,
                   margin: float) -> jax.Array:
  """CosFace logits: s*(cos(theta) - m) for the target class, s*cos(theta) else.

  Args and returns as ``arcface_logits``; ``margin`` is subtracted from the
  target cosine.
  """
  cos = _cosines(embeddings, weights)
  target = jax.nn.one_hot(labels, cos.shape[-1], dtype=cos.dtype)
  return scale * (cos - margin * target)


def margin_logits(kind: str, embeddings: jax.Array, weights: jax.Array,
                  labels: jax.Array, scale: float,
                  margin: float) -> jax.Array:
  """``arcface_logits`` or ``cosface_logits`` by ``kind``; [batch, classes]."""
  if kind == "arcface":
    return arcface_logits(embeddings, weights, labels, scale, margin)
  if kind == "cosface":
    return cosface_logits(embeddings, weights, labels, scale, margin)
  raise errors.ConfigError(
      f"unknown loss.kind {kind!r}; one of 'arcface', 'cosface'")


def margin_loss(embeddings: jax.Array, weights: jax.Array, labels: jax.Array,
                *, kind: str = "arcface", scale: float = 64.0,
                margin: float = 0.5) -> jax.Array:
  """Mean softmax cross-entropy over margin logits, a scalar.

  Args:
    embeddings: [batch, dim].
    weights: [dim, num_classes].
    labels: [batch] int class indices.
    kind: ``arcface`` or ``cosface``.
    scale: logit scale s.
    margin: m (radians for ArcFace, cosine units for CosFace).
  """
  logits = margin_logits(kind, embeddings, weights, labels, scale, margin)
  return optax.softmax_cross_entropy_with_integer_labels(logits,
                                                         labels).mean()


# ----------------------------------------------------------------------------
# Verification (numpy).


class Verification(NamedTuple):
  """Face verification on pairs, scored by cosine similarity.

  Attributes:
    accuracy: accuracy at the best threshold for all pairs (optimistic).
    threshold: that threshold; a pair with cosine >= it is "same identity".
    fair_accuracy: two-fold: the threshold is chosen on one half of the pairs
      and the accuracy measured on the other, averaged over both halves.
    num_pairs: pairs scored, half positive and half negative.
  """
  accuracy: float
  threshold: float
  fair_accuracy: float
  num_pairs: int


def _best_threshold(scores: np.ndarray,
                    same: np.ndarray) -> tuple[float, float]:
  """(accuracy, threshold) maximising the accuracy of ``scores >= t``."""
  values = np.unique(scores)
  # Midpoints between neighbouring scores, and one beyond either end.
  candidates = np.concatenate([[values[0] - 1.0],
                               (values[1:] + values[:-1]) / 2,
                               [values[-1] + 1.0]])
  positives = np.sort(scores[same])
  negatives = np.sort(scores[~same])
  correct = (len(positives) - np.searchsorted(positives, candidates)
             + np.searchsorted(negatives, candidates))
  best = int(np.argmax(correct))
  return correct[best] / len(scores), float(candidates[best])


def _accuracy(scores, same, threshold) -> float:
  return float(np.mean((scores >= threshold) == same))


def verification_accuracy(embeddings: np.ndarray, identities: np.ndarray,
                          num_pairs: int = 2000,
                          seed: int = 0) -> Verification:
  """Same/different-identity verification among ``embeddings``.

  Draws ``num_pairs // 2`` positive pairs (one identity, two different images)
  and as many negative pairs (two identities), with replacement.

  Args:
    embeddings: [n, dim], any norm.
    identities: [n] identity labels.
    num_pairs: total pairs; at least 4.
    seed: seed of the pair sampling.

  Returns:
    A ``Verification``.

  Raises:
    ValueError: without two identities or without an identity that has two
      images.
  """
  embeddings = np.asarray(layers.l2_normalize(np.asarray(embeddings,
                                                         np.float64)))
  identities = np.asarray(identities)
  labels, counts = np.unique(identities, return_counts=True)
  if len(labels) < 2 or counts.max() < 2:
    raise ValueError("verification needs two identities and one identity "
                     "with two images")
  rng = np.random.default_rng(seed)
  half = max(num_pairs // 2, 2)
  members = {label: np.flatnonzero(identities == label) for label in labels}
  repeated = labels[counts >= 2]
  first, second = [], []
  for label in rng.choice(repeated, half):
    i, j = rng.choice(members[label], 2, replace=False)
    first.append(i)
    second.append(j)
  for a, b in (rng.choice(labels, 2, replace=False) for _ in range(half)):
    first.append(rng.choice(members[a]))
    second.append(rng.choice(members[b]))
  scores = np.sum(embeddings[first] * embeddings[second], axis=-1)
  same = np.arange(2 * half) < half
  accuracy, threshold = _best_threshold(scores, same)
  folds = np.array_split(rng.permutation(2 * half), 2)
  fair = []
  for pick, test in (folds, folds[::-1]):
    _, fold_threshold = _best_threshold(scores[pick], same[pick])
    fair.append(_accuracy(scores[test], same[test], fold_threshold))
  return Verification(float(accuracy), threshold, float(np.mean(fair)),
                      2 * half)


# ----------------------------------------------------------------------------
# Data: whole splits in memory, as uint8 [n, s, s, 3] and int labels.


def _stack(images, size: int) -> np.ndarray:
  return np.stack([input_pipeline.center_crop_resize(np.asarray(image), size)
                   for image in images])


def _synthetic_splits(data_config):
  splits = []
  for split in ("train", "test"):
    source = input_pipeline.make_source(data_config, split)
    examples = [source[i] for i in range(len(source))]
    splits.append((_stack([e["image"] for e in examples],
                          data_config.image_size),
                   np.array([int(e["identity"]) for e in examples])))
  return splits


def _folder_splits(data_config):
  """One sub-folder per identity; the last ``test_identities`` are held out."""
  root = pathlib.Path(data_config.data_dir)
  folders = sorted(p for p in root.iterdir() if p.is_dir()) if (
      root.is_dir()) else []
  num_test = data_config.test_identities
  if len(folders) < num_test + 2 or num_test < 2:
    raise errors.DataError(
        f"identity folder {root} needs >= 2 held-out and 2 training identity "
        f"sub-folders; found {len(folders)} for {num_test} held out")
  splits = []
  for group in (folders[:len(folders) - num_test],
                folders[len(folders) - num_test:]):
    images, labels = [], []
    for label, folder in enumerate(group):
      source = input_pipeline.ImageFolderSource(folder)
      images += [source[i]["image"] for i in range(len(source))]
      labels += [label] * len(source)
    splits.append((_stack(images, data_config.image_size), np.array(labels)))
  return splits


def load_splits(data_config: ml_collections.ConfigDict):
  """((train_images, train_labels), (test_images, test_labels)).

  Images are uint8 [n, image_size, image_size, 3]; train labels are remapped
  to 0..num_classes-1.
  """
  if data_config.name == "synthetic_faces":
    train, test = _synthetic_splits(data_config)
  elif data_config.name == "identity_folder":
    train, test = _folder_splits(data_config)
  else:
    raise errors.ConfigError(
        f"unknown data.name {data_config.name!r} for identity pretraining; "
        f"one of 'synthetic_faces', 'identity_folder'")
  images, labels = train
  if len(images) == 0 or len(test[0]) == 0:
    raise errors.DataError(f"empty identity data in {data_config.data_dir}")
  return (images, np.unique(labels, return_inverse=True)[1]), test


# ----------------------------------------------------------------------------
# Training.


def _augment(images: jax.Array, key: jax.Array) -> jax.Array:
  """Random horizontal flips and brightness scaling of [b, h, w, 3] in [0,1]."""
  k_flip, k_bright = jax.random.split(key)
  flip = jax.random.bernoulli(k_flip, 0.5, (images.shape[0], 1, 1, 1))
  images = jnp.where(flip, images[:, :, ::-1], images)
  gain = jax.random.uniform(k_bright, (images.shape[0], 1, 1, 1),
                            minval=0.8, maxval=1.2)
  return jnp.clip(images * gain, 0.0, 1.0)


def _optimizer(optim_config, num_steps: int) -> optax.GradientTransformation:
  lr = optim_config.lr
  if optim_config.get("schedule", "cosine") == "cosine":
    lr = optax.cosine_decay_schedule(lr, max(num_steps, 1))
  if optim_config.kind == "adam":
    return optax.adamw(lr, weight_decay=optim_config.weight_decay)
  if optim_config.kind == "sgd":
    return optax.chain(optax.add_decayed_weights(optim_config.weight_decay),
                       optax.sgd(lr, momentum=optim_config.momentum))
  raise errors.ConfigError(
      f"unknown optim.kind {optim_config.kind!r}; one of 'adam', 'sgd'")


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                    loss_config, augment: bool):
  """The jitted step (params, stats, opt_state, images, labels, key) -> ...

  ``params`` is ``{"encoder": pure param dict, "weights": [dim, classes]}``,
  ``stats`` the pure dict of BatchNorm statistics, ``images`` uint8
  [b, s, s, 3] and ``labels`` int [b]. Returns the updated params, stats and
  opt_state, and scalar metrics ``loss`` and ``accuracy`` (margin-free
  classification accuracy on the batch).
  """

  def step(params, stats, opt_state, images, labels, key):
    images = images.astype(jnp.float32) / 255.0
    if augment:
      images = _augment(images, key)

    def loss_fn(params):
      model = nnx.merge(graphdef, params["encoder"], stats)
      net = identity.preprocess(images, model.input_size, model.grayscale)
      embeddings = model(net)
      loss = margin_loss(embeddings, params["weights"], labels,
                         kind=loss_config.kind, scale=loss_config.scale,
                         margin=loss_config.margin)
      cos = _cosines(embeddings, params["weights"])
      accuracy = jnp.mean(jnp.argmax(cos, axis=-1) == labels)
      new_stats = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))
      return loss, (new_stats, accuracy)

    (loss, (stats, accuracy)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, stats, opt_state, {"loss": loss, "accuracy": accuracy}

  return jax.jit(step, donate_argnums=(0, 1, 2))


def embed_all(graphdef: nnx.GraphDef, state: nnx.State, images: np.ndarray,
              batch_size: int = 256) -> np.ndarray:
  """uint8 [n, s, s, 3] -> [n, dim] unit embeddings, in batches."""
  embed = jax.jit(identity.embed)
  return np.concatenate([
      np.asarray(embed(graphdef, state,
                       jnp.asarray(images[i:i + batch_size]) / 255.0))
      for i in range(0, len(images), batch_size)])


def pretrain(config: ml_collections.ConfigDict, workdir) -> dict:
  """Trains E2 with a margin loss, evaluates verification, saves it.

  Args:
    config: with sections ``identity`` (E2 architecture, see
      ``identity.default_config``), ``loss`` (``kind``, ``scale``,
      ``margin``), ``optim`` (``kind`` adam|sgd, ``lr``, ``momentum``,
      ``weight_decay``, ``schedule`` cosine|constant), ``data`` (``name``
      synthetic_faces|identity_folder, ``data_dir``, ``image_size``,
      ``test_identities``; synthetic_faces also ``train_identities``,
      ``views``, ``seed``), ``train`` (``batch_size``, ``num_steps``,
      ``seed``, ``augment``), ``eval`` (``num_pairs``, ``seed``) and ``log``
      (``progress_bar``).
    workdir: receives ``identity_encoder/`` and ``identity_metrics.json``.

  Returns:
    The metrics: ``verification_accuracy`` (two-fold, threshold chosen on
    other pairs), ``best_threshold_accuracy``, ``threshold``, ``steps``,
    ``train_identities``, ``test_identities``, ``images_per_sec`` and the
    final batch ``loss`` and ``train_accuracy``.

  Raises:
    errors.DataError: if the data set is missing or unreadable.
  """
  workdir = pathlib.Path(workdir)
  (train_images, train_labels), (test_images, test_ids) = load_splits(
      config.data)
  num_classes = int(train_labels.max()) + 1

  # Model and class weights; BatchNorm uses batch statistics while training.
  key = jax.random.key(config.train.seed)
  k_model, k_weights, k_steps = jax.random.split(key, 3)
  model = identity.make_identity_encoder(config.identity, nnx.Rngs(k_model))
  model.train()
  for _, module in nnx.iter_modules(model):
    if isinstance(module, nnx.BatchNorm):
      module.momentum = _BN_MOMENTUM
  graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  params = {
      "encoder": nnx.to_pure_dict(params),
      "weights": 0.01 * jax.random.normal(
          k_weights, (identity.embedding_dim(model), num_classes)),
  }
  stats = nnx.to_pure_dict(stats)
  num_steps = config.train.num_steps
  tx = _optimizer(config.optim, num_steps)
  opt_state = tx.init(params)
  step_fn = make_train_step(graphdef, tx, config.loss,
                            config.train.get("augment", True))

  # Loop: shuffled epochs, so every image is seen once per epoch.
  batch_size = min(config.train.batch_size, len(train_images))
  rng = np.random.default_rng(config.train.seed)
  order, position = rng.permutation(len(train_images)), 0
  metrics, start = {}, None
  for step in tqdm.trange(num_steps, desc="identity pretrain",
                          disable=not config.log.get("progress_bar", True)):
    if position + batch_size > len(order):
      order, position = rng.permutation(len(train_images)), 0
    index = order[position:position + batch_size]
    position += batch_size
    params, stats, opt_state, metrics = step_fn(
        params, stats, opt_state, train_images[index], train_labels[index],
        jax.random.fold_in(k_steps, step))
    if step == 0:
      # Time from the end of the first (compiling) step.
      jax.block_until_ready(metrics)
      start = time.perf_counter()
  jax.block_until_ready(params)
  elapsed = time.perf_counter() - start if start is not None else 0.0
  images_per_sec = (num_steps - 1) * batch_size / elapsed if (
      elapsed > 0) else 0.0

  # The frozen encoder: inference-mode BatchNorm with the running statistics.
  model = nnx.merge(graphdef, params["encoder"], stats)
  model.eval()
  graphdef, state = nnx.split(model)
  test_embeddings = embed_all(graphdef, state, test_images)
  result = verification_accuracy(test_embeddings, test_ids,
                                 config.eval.num_pairs, config.eval.seed)
  identity_import.save_identity_encoder(
      workdir / "identity_encoder", config.identity.kind, config.identity,
      state)
  out = {
      "verification_accuracy": result.fair_accuracy,
      "best_threshold_accuracy": result.accuracy,
      "threshold": result.threshold,
      "num_pairs": result.num_pairs,
      "steps": num_steps,
      "train_identities": num_classes,
      "test_identities": int(len(np.unique(test_ids))),
      "images_per_sec": float(images_per_sec),
      "loss": float(metrics.get("loss", np.nan)),
      "train_accuracy": float(metrics.get("accuracy", np.nan)),
  }
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / "identity_metrics.json").write_text(
      json.dumps(out, indent=2, sort_keys=True) + "\n")
  return out
