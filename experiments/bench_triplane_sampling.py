"""Benchmark of the tri-plane lookup (``field.sample_planes``) alone.

Times the bilinear read of three planes, forward and forward + backward
(gradients for the planes and the points), vmapped over scenes as the
generator runs it. Prints one JSON line. The default sizes are the demo's
per generator call: 16 scenes of 16x16 rays with 12 samples each, 32^2
planes of 32 channels.

  python experiments/bench_triplane_sampling.py --scenes 16
"""

import argparse
import json
import platform

import jax
import jax.numpy as jnp

import bench_r1  # same directory: its timer

from jaxface import field


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--scenes", type=int, default=16)
  parser.add_argument("--points", type=int, default=16 * 16 * 12)
  parser.add_argument("--plane-size", type=int, default=32)
  parser.add_argument("--channels", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()
  k_planes, k_points = jax.random.split(jax.random.key(0))
  planes = jax.random.normal(k_planes, (args.scenes, 3, args.plane_size,
                                        args.plane_size, args.channels))
  points = jax.random.uniform(k_points, (args.scenes, args.points, 3),
                              minval=-1.0, maxval=1.0)
  forward = jax.jit(jax.vmap(field.sample_planes))
  both = jax.jit(jax.grad(
      lambda p, x: jnp.sum(jax.vmap(field.sample_planes)(p, x) ** 2),
      argnums=(0, 1)))
  fwd = bench_r1.seconds_per_call(forward, planes, points, repeats=args.repeats)
  fwd_bwd = bench_r1.seconds_per_call(both, planes, points, repeats=args.repeats)
  print(json.dumps(dict(
      benchmark="triplane_sampling", scenes=args.scenes, points=args.points,
      plane_size=args.plane_size, channels=args.channels,
      forward_ms=round(1e3 * fwd, 2), forward_backward_ms=round(1e3 * fwd_bwd, 2),
      backward_over_forward=round((fwd_bwd - fwd) / fwd, 1),
      devices=f"{jax.device_count()}x{jax.devices()[0].device_kind}",
      host=platform.processor() or platform.machine())))


if __name__ == "__main__":
  main()
