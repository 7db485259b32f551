"""Why a sweep's step is slow on CPU: vmapped convolutions against a loop.

``jax.vmap`` over members with their own kernels turns a convolution into
one grouped convolution; a matmul becomes a batched matmul. This prints
one JSON line per case: seconds for K members under vmap against a Python
loop of K ordinary calls, forward and weight gradient.

  python experiments/bench_vmap_conv.py --members 4
"""

import argparse
import json
import platform

import jax
import jax.numpy as jnp

import bench_r1  # same directory: its timer


def _conv(x, w):
  return jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _dense(x, w):
  return jnp.tanh(x @ w)


def _weight_grad(op):
  return lambda x, w: jax.grad(lambda w: jnp.sum(op(x, w) ** 2))(w)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--members", type=int, default=4)
  args = parser.parse_args()
  k = args.members
  key = jax.random.key(0)
  cases = {
      # The field MLP's shape at the demo's batch: rows x hidden.
      "dense": (_dense, jax.random.normal(key, (k, 65536, 128)),
                jax.random.normal(key, (k, 128, 128))),
      # A renderer/discriminator layer: 16 images of 32x32x64, 3x3 kernel.
      "conv3x3": (_conv, jax.random.normal(key, (k, 16, 32, 32, 64)),
                  jax.random.normal(key, (k, 3, 3, 64, 64))),
  }
  for name, (op, x, w) in cases.items():
    for what, fn in (("forward", op), ("weight_grad", _weight_grad(op))):
      vmapped = bench_r1.seconds_per_call(jax.jit(jax.vmap(fn)), x, w)
      looped = bench_r1.seconds_per_call(jax.jit(
          lambda x, w, fn=fn: jnp.stack([fn(x[i], w[i]) for i in range(k)])),
          x, w)
      print(json.dumps(dict(
          benchmark="vmap_vs_loop", op=name, what=what, members=k,
          vmap_sec=round(vmapped, 4), loop_sec=round(looped, 4),
          vmap_over_loop=round(vmapped / looped, 2),
          devices=f"{jax.device_count()}x{jax.devices()[0].device_kind}",
          host=platform.processor() or platform.machine())))


if __name__ == "__main__":
  main()
