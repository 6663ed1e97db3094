"""Render a real run's report.html in headless Chromium, to look at it.

Makes a small real run (random weights, a few tiny jobs: the repo's sample images, the
paintings and a frame of the clip under ../shared/data when present, one unreadable file, one
invalid manifest row), then screenshots report.html (all jobs, and `#failed` to show the
filter working) and converts contact_sheet.jpg to PNG. Needs `chromium` (Debian's package).
Look at the PNGs it prints; never run from the tests.

    python benchmarks/report_screenshot.py [--out DIR] [--size 128] [--steps 20] [--rerender]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "data"


def make_inputs(folder: Path) -> Path:
    """Inputs and a manifest with good rows, a blend, an unreadable file and an invalid row."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("harbour.png", "street.jpg", "stripes.png", "waves.png"):
        shutil.copy(REPO / "manifests" / "images" / name, folder / name)
    styles = ["stripes.png", "waves.png"]
    for name in ("starry_night.jpg", "the_scream.jpg"):
        if (SHARED / "styles" / name).is_file():
            with Image.open(SHARED / "styles" / name) as img:
                img.thumbnail((256, 256))
                img.convert("RGB").save(folder / name, quality=90)
            styles.insert(0, name)
    contents = ["harbour.png", "street.jpg"]
    clip = SHARED / "video" / "realshort.mp4"
    if clip.is_file():
        import cv2

        cap = cv2.VideoCapture(str(clip))
        ok, frame = cap.read()
        cap.release()
        if ok:
            Image.fromarray(frame[:, :, ::-1]).save(folder / "frame.png")
            contents.insert(0, "frame.png")
    (folder / "broken.jpg").write_text("<html>not an image</html>")
    rows = ["content,style,style_weights,output"]
    for i, content in enumerate(contents):
        rows.append(
            f"{content},{styles[i % len(styles)]},,{Path(content).stem}__{Path(styles[i % len(styles)]).stem}.png"
        )
    rows.append(f"{contents[0]},{styles[0]};{styles[1]},0.7;0.3,blends/{Path(contents[0]).stem}__mix.png")
    rows.append(f"broken.jpg,{styles[0]},,broken__{Path(styles[0]).stem}.png")
    rows.append(f",{styles[0]},,")  # no content: an invalid row, named by its line
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def screenshot(page: Path, png: Path, fragment: str = "", size: str = "1400,2600") -> float:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed: apt-get install -y chromium")
    t0 = time.perf_counter()
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--window-size={size}", f"--screenshot={png}", page.resolve().as_uri() + fragment],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "_work" / "report_screenshot")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument(
        "--rerender", action="store_true", help="Keep the run; only rewrite and shoot the report."
    )
    args = ap.parse_args()
    run_dir = args.out / "run"
    if not args.rerender:
        shutil.rmtree(args.out, ignore_errors=True)
        manifest = make_inputs(args.out / "inputs")
        cmd = [
            sys.executable, "-m", "stylebatch", "run", str(manifest), "--out", str(run_dir),
            "--weights", "random", "--pipeline", "fast", "--size", str(args.size), "--steps", str(args.steps),
            "--set", f"coarse_steps={args.steps}", "--skip-invalid", "--workers", "1",
        ]  # fmt: skip
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        print(f"run: exit {done.returncode} in {time.perf_counter() - t0:.1f} s (1 expected: a failure)")
        print(done.stderr[-3000:])
    else:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stylebatch", "report", str(run_dir)], capture_output=True)
        print(f"report rewritten in {time.perf_counter() - t0:.1f} s")
    page = run_dir / "report.html"
    shots = {
        "report.png": screenshot(page, args.out / "report.png"),
        "report_failed.png": screenshot(page, args.out / "report_failed.png", "#failed", "1400,1200"),
        "report_narrow.png": screenshot(page, args.out / "report_narrow.png", "", "900,1600"),
    }
    with Image.open(run_dir / "contact_sheet.jpg") as sheet:
        sheet.save(args.out / "contact_sheet.png")
    for name, seconds in shots.items():
        print(f"{args.out / name} ({seconds:.1f} s)")
    print(args.out / "contact_sheet.png")


if __name__ == "__main__":
    main()
