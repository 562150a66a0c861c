"""Time per asset (segment -> lift -> decompose -> export, then validate) and CoACD settings.

Part 1 builds assets from the bundled images, a concave mesh, a pybullet_data URDF (when
installed) and a procedural cabinet, and prints the time of every stage.

Part 2 compares, on the same concave meshes, the CoACD settings the pipeline uses
(``CoacdSettings()``) against CoACD's own defaults (the baseline), a cheaper setting, and the
plain convex hull: seconds, number of hulls, and excess volume (sum of hull volumes / mesh
volume - 1; 0 is a perfect fit). Runs past ``--budget`` seconds are killed (as in the pipeline).

    python benchmarks/bench_assets.py [--repeat 1] [--budget 120] [--json results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import trimesh  # noqa: E402

from rlscope.gen2sim.assets.build import BuildOptions, build, write_asset  # noqa: E402
from rlscope.gen2sim.assets.lift import lift_revolution  # noqa: E402
from rlscope.gen2sim.assets.mesh import CoacdSettings, decompose, normalize_mesh, repair_mesh  # noqa: E402
from rlscope.gen2sim.assets.samples import DATA_DIR  # noqa: E402
from rlscope.gen2sim.assets.segment import segment_image  # noqa: E402
from rlscope.gen2sim.assets.validate import validate_asset  # noqa: E402


def l_shape() -> trimesh.Trimesh:
    a = trimesh.creation.box(extents=(0.3, 0.1, 0.1))
    b = trimesh.creation.box(extents=(0.1, 0.1, 0.3))
    b.apply_translation((-0.1, 0, 0.1))
    return trimesh.boolean.union([a, b], engine="manifold")


def cup() -> trimesh.Trimesh:
    """A thick-walled cup (hollow: a hard case for convex decomposition)."""
    outer = trimesh.creation.cylinder(radius=0.04, height=0.1, sections=48)
    inner = trimesh.creation.cylinder(radius=0.032, height=0.1, sections=48)
    inner.apply_translation((0, 0, 0.01))
    return trimesh.boolean.difference([outer, inner], engine="manifold")


def pybullet_path(rel: str) -> Path | None:
    try:
        import pybullet_data
    except ImportError:
        return None
    return Path(pybullet_data.getDataPath()) / rel


def part1(tmp: Path, repeat: int) -> list[dict]:
    mesh_path = tmp / "l_shape.obj"
    l_shape().export(mesh_path)
    jobs = [
        ("mug.png (alpha, revolution)", [DATA_DIR / "mug.png"], "mug"),
        ("bottle.jpg (GrabCut, revolution)", [DATA_DIR / "bottle.jpg"], "bottle"),
        ("box.png (GrabCut, extrusion)", [DATA_DIR / "box.png"], "box"),
        ("l_shape.obj (concave mesh)", [mesh_path], "toy"),
        ("procedural:cabinet", ["procedural:cabinet"], None),
        ("procedural:microwave", ["procedural:microwave"], None),
    ]
    mug = pybullet_path("objects/mug.urdf")
    if mug is not None:
        jobs.append(("pybullet_data objects/mug.urdf", [mug], "mug"))
    rows = []
    for j, (label, inputs, category) in enumerate(jobs):
        for r in range(repeat):
            t0 = time.perf_counter()
            built = build(inputs, "a", BuildOptions(category=category, seed=r))
            out = tmp / f"asset{j}_{r}"
            write_asset(built, out)
            t_build = time.perf_counter() - t0
            t1 = time.perf_counter()
            report = validate_asset(built.asset, out)
            t_val = time.perf_counter() - t1
            tm = built.asset.params.get("timings", {})
            rows.append({
                "asset": label, "repeat": r,
                "segment": tm.get("segment", 0.0), "lift": tm.get("lift", 0.0),
                "repair": tm.get("repair", 0.0), "decompose": tm.get("decompose", 0.0),
                "export": tm.get("export", 0.0), "build_total": round(t_build, 3), "validate": round(t_val, 3),
                "hulls": sum(len(link.collisions) for link in built.asset.links) if built.asset.source != "procedural" else 0,
                "valid": report.ok, "failures": report.failures,
            })
    return rows


def part2(budget: float) -> list[dict]:
    meshes = {"l_shape": l_shape(), "cup": cup()}
    bottle = lift_revolution(segment_image(DATA_DIR / "bottle.jpg"))
    meshes["bottle (lifted)"] = normalize_mesh(bottle, longest_side=0.25)
    duck = pybullet_path("duck.obj")
    if duck is not None:
        m, _ = repair_mesh(trimesh.load(duck, force="mesh"))
        meshes["duck (pybullet_data)"] = normalize_mesh(m, longest_side=0.1)
    ours = CoacdSettings(timeout_s=budget)
    settings = {
        "baseline: CoACD defaults": dataclasses.replace(ours, resolution=2000, mcts_iterations=150, mcts_nodes=20,
                                                        mcts_max_depth=3, preprocess_resolution=50, max_convex_hull=-1),
        "rlscope default": ours,
        "cheap (thr 0.08, 20 it, res 500)": dataclasses.replace(ours, threshold=0.08, mcts_iterations=20, mcts_nodes=8,
                                                                resolution=500),
    }
    rows = []
    for mname, mesh in meshes.items():
        hull = mesh.convex_hull
        rows.append({"mesh": mname, "setting": "convex hull only", "seconds": 0.0, "hulls": 1,
                     "excess": round(hull.volume / mesh.volume - 1, 3), "method": "convex_hull"})
        for sname, s in settings.items():
            d = decompose(mesh, s)
            rows.append({"mesh": mname, "setting": sname, "seconds": round(d.seconds, 2), "hulls": len(d.hulls),
                         "excess": round(d.excess, 3), "method": d.method})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--budget", type=float, default=120.0, help="seconds before a CoACD run is killed")
    ap.add_argument("--skip-coacd", action="store_true", help="only part 1")
    ap.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p1 = part1(Path(tmp), args.repeat)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    cols = ["segment", "lift", "repair", "decompose", "export", "build_total", "validate"]
    print(f"\n{'asset':<34}" + "".join(f"{c:>12}" for c in cols) + f"{'hulls':>7}{'valid':>7}")
    for r in p1:
        print(f"{r['asset']:<34}" + "".join(f"{r[c]:>12.2f}" for c in cols) + f"{r['hulls']:>7}{str(r['valid']):>7}")
        for failure in r["failures"]:
            print(f"    validation failure: {failure}")
    p2 = [] if args.skip_coacd else part2(args.budget)
    if p2:
        print(f"\n{'mesh':<22}{'setting':<36}{'seconds':>9}{'hulls':>7}{'excess':>9}  method")
        for r in p2:
            print(f"{r['mesh']:<22}{r['setting']:<36}{r['seconds']:>9.2f}{r['hulls']:>7}{r['excess']:>9.3f}  {r['method']}")
    if args.json:
        args.json.write_text(json.dumps({"per_asset": p1, "coacd": p2, "cpus": os.cpu_count(),
                                         "coacd_budget_s": args.budget}, indent=2) + "\n")


if __name__ == "__main__":
    main()
