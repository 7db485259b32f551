"""R1 cost: ``layers.conv2d`` versus plain ``lax`` convolutions.

Times the gradient of the R1 penalty (a second-order derivative) w.r.t. the
weights of GIRAFFE's 64x64 DCGAN discriminator, written once with
``layers.conv2d`` and once with ``lax.conv_general_dilated``. One JSON line.

  python experiments/bench_r1.py --batch-size 32
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
from jax import lax

from jaxface import layers

# (in, out) channels of the four stride-2 4x4 blocks at 64x64, then 4x4 out.
_CHANNELS = [(3, 64), (64, 128), (128, 256), (256, 512)]


def _disc(conv):
  def apply(kernels, images):
    net = images
    for kernel in kernels[:-1]:
      net = jax.nn.leaky_relu(conv(net, kernel, 2, 1), 0.2)
    return conv(net, kernels[-1], 1, 0).reshape(images.shape[0])
  return apply


def _ours(x, kernel, stride, padding):
  return layers.conv2d(x, kernel, stride=stride, padding=padding)


def _lax(x, kernel, stride, padding):
  return lax.conv_general_dilated(
      x, kernel, (stride, stride), ((padding, padding),) * 2,
      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def seconds_per_call(fn, *args, repeats=5):
  """Mean wall seconds of ``fn(*args)`` after one warm-up (compiling) call."""
  jax.block_until_ready(fn(*args))
  start = time.perf_counter()
  for _ in range(repeats):
    out = fn(*args)
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / repeats


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch-size", type=int, default=32)
  args = parser.parse_args()
  keys = jax.random.split(jax.random.key(0), len(_CHANNELS) + 2)
  kernels = [0.05 * jax.random.normal(k, (4, 4, i, o))
             for k, (i, o) in zip(keys, _CHANNELS)]
  kernels.append(0.05 * jax.random.normal(keys[-2], (4, 4, 512, 1)))
  images = jax.random.uniform(keys[-1], (args.batch_size, 64, 64, 3))

  result = dict(benchmark="r1_grad", batch_size=args.batch_size)
  grads = {}
  for name, conv in (("layers", _ours), ("lax", _lax)):
    disc = _disc(conv)

    def r1(kernels, disc=disc):
      g = jax.grad(lambda x: jnp.sum(disc(kernels, x)))(images)
      return jnp.mean(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=-1))

    fn = jax.jit(jax.grad(r1))
    grads[name] = fn(kernels)
    result[f"{name}_ms"] = round(1000 * seconds_per_call(fn, kernels), 1)
  result["speedup"] = round(result["lax_ms"] / result["layers_ms"], 2)
  # Relative L2 difference per layer (a max-abs figure would be dominated by
  # the few activations that sit on a leaky-ReLU kink and flip branch).
  result["rel_l2_diff"] = float(max(
      jnp.linalg.norm(a - b) / (jnp.linalg.norm(b) + 1e-12)
      for a, b in zip(grads["layers"], grads["lax"])))
  print(json.dumps(result))


if __name__ == "__main__":
  main()
