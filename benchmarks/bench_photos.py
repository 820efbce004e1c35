"""What one student's photos cost the web server: 30 large photos given to Your classes' uploader
(about 7 MB each, as a phone takes them), before and now, in one run.

For each checkout (this one, and `--vs BEFORE`, e.g. a `git worktree` of an earlier commit), a fresh
`streamlit run app.py` and one protocol client (bench_server.Client): it opens Your classes, adds a
class, uploads the 30 photos through /_stcore/upload_file as a browser does and gives them to the
class's photo box (st.chat_input; an st.file_uploader before, pressing "Add 30 photos" where the code
had that button). Printed: the server's
RSS with the page open before the upload and 30 s after the photos were added, the difference, and
the same once the tab closed, and the photos the class holds on disk (as many as the session's
100 MB of gathered photos hold). The two servers run one after the other on the
same machine; compare the differences, not the absolute figures of two days.

    python benchmarks/bench_photos.py [--photos 30] [--vs BEFORE] [--settle 30]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402,F401  (puts the project on the path)
import bench_server as bs  # noqa: E402

from catdog_core import gathering  # noqa: E402
from bench_door import GateClient  # noqa: E402


def large_photo(seed: int, target_mb: float = 7.0) -> bytes:
    """A JPEG of about `target_mb` (noise compresses badly, as a phone photo of grass does), under the
    10 MB a photo may have."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    side = int((target_mb * 2**20 / 1.05) ** 0.5)  # noise at quality 90: about one byte a pixel
    pixels = (rng.random((side, side, 3)) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


async def one_student(app: Path, photos: list[bytes], settle: float) -> dict:
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    server = bs.Server(app, bs.SHARED / "data" / "cats_and_dogs.zip",
                       bs.SHARED / "weights" / "mobilenet_v2_1.0_224_no_top_imagenet.h5", workers=1)
    server.env["CATDOG_WARM"] = "0"  # no worker warming up beside it: this measures the web server alone
    try:
        await asyncio.to_thread(server.start)
        tab = GateClient(server, "student")
        await tab.connect()
        await tab.run_page("classes")
        await tab.submit("classes", "New class name", "kitty", "Add the class")
        await tab.run_page("classes")
        await asyncio.sleep(3)
        before = bs.rss_mb(server.proc.pid)
        uploader = next(w for w in tab.uploader_ids if w.endswith(("class_files_kitty_0", "class_photos_kitty")))
        infos = []
        for i, data in enumerate(photos):
            infos.append(await tab.upload(f"phone{i:02d}.jpg", data, "image/jpeg"))
        given = WidgetState(id=uploader)
        if uploader.endswith("class_photos_kitty"):  # the box that hands photos over once (st.chat_input)
            given.chat_input_value.data = ""  # a submit sends its text, empty or not, beside the files
            given.chat_input_value.file_uploader_state.uploaded_file_info.extend(infos)
        else:  # the code of before: st.file_uploader
            given.file_uploader_state_value.uploaded_file_info.extend(infos)
        started = time.perf_counter()
        await tab.run_page("classes", widgets=[given])
        add = next((i for label, i in tab.widget_ids.items() if label.startswith(f"Add {len(photos)} photos")), None)
        if add is not None:  # the code of before: a second step
            await tab.run_page("classes", widgets=[given, WidgetState(id=add, trigger_value=True)])
        took = time.perf_counter() - started
        await tab.run_page("classes")
        peak = bs.rss_mb(server.proc.pid)
        await asyncio.sleep(settle)
        after = bs.rss_mb(server.proc.pid)
        held = 0
        for index in (server.home / "gathering").glob("*/classes.json"):
            held += len(json.loads(index.read_text()).get("kitty", []))
        await tab.close()
        await asyncio.sleep(settle)
        closed = bs.rss_mb(server.proc.pid)
        return {"before": before, "peak": peak, "after": after, "closed": closed, "held": held, "seconds": took,
                "second_step": add is not None}
    finally:
        await asyncio.to_thread(server.stop)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photos", type=int, default=30)
    p.add_argument("--vs", type=Path, default=None, help="a checkout of the code before, measured in the same run")
    p.add_argument("--settle", type=float, default=30.0)
    args = p.parse_args()
    photos = [large_photo(i) for i in range(args.photos)]
    total = sum(map(len, photos)) / 2**20
    rows = [("now", bs.REPO)] + ([("before", args.vs.resolve())] if args.vs else [])
    print(f"bench_photos: {args.photos} photos, {total:.0f} MB, on Your classes; {time.strftime('%Y-%m-%d %H:%M')}")
    failed = False
    for label, app in rows:
        out = asyncio.run(one_student(app, photos, args.settle))
        grew = out["after"] - out["before"]
        print(f"{label:7} server RSS {out['before']:.0f} MB -> {out['after']:.0f} MB {args.settle:g} s after "
              f"({grew:+.0f} MB; peak {out['peak']:.0f}), {out['closed'] - out['before']:+.0f} MB {args.settle:g} s "
              f"after the tab closed; photos in the class {out['held']} of {args.photos} (the rest past the "
              f"session's {gathering.MAX_BYTES // 2**20} MB); {out['seconds']:.1f} s from the upload to the class"
              + (" (two steps: the Add button)" if out["second_step"] else ""))
        failed |= out["held"] == 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
