"""Screenshots of a page in headless Chromium over the DevTools protocol (remote-debugging
pipe): ReplayWeb.page renders after its service worker has loaded the WACZ, long after the
page's load event, which `chromium --screenshot` waits for (virtual time stalls the worker).

usage: cdpshot.py URL OUT_PREFIX SECONDS...   writes OUT_PREFIX.N.png at each of the times
"""
import base64, json, os, subprocess, sys, time

url, prefix, times = sys.argv[1], sys.argv[2], [float(t) for t in sys.argv[3:]]
to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()


def wire():  # in the child: Chromium reads commands on fd 3 and writes replies on fd 4
    os.dup2(to_chrome_r, 3)
    os.dup2(from_chrome_w, 4)


chrome = subprocess.Popen(
    [os.environ.get("EXHIBIT_CHROMIUM", "chromium"), "--headless=new", "--no-sandbox",
     "--disable-gpu", "--no-first-run", "--remote-debugging-pipe", "--window-size=1280,900",
     "about:blank"],
    pass_fds=(3, 4), preexec_fn=wire, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_chrome_r)
os.close(from_chrome_w)
pending, next_id = b"", 0


def call(method, params=None, session=None):
    global pending, next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(to_chrome_w, json.dumps(msg).encode() + b"\0")
    while True:
        while b"\0" in pending:
            raw, pending = pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == next_id:
                if "error" in reply:
                    raise SystemExit(f"{method}: {reply['error']}")
                return reply["result"]
        chunk = os.read(from_chrome_r, 1 << 20)
        if not chunk:
            raise SystemExit("Chromium closed the pipe")
        pending += chunk


try:
    target = call("Target.createTarget", {"url": url})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    start = time.monotonic()
    for i, t in enumerate(times):
        time.sleep(max(0.0, start + t - time.monotonic()))
        shot = call("Page.captureScreenshot", {"format": "png"}, session)["data"]
        with open(f"{prefix}.{i}.png", "wb") as f:
            f.write(base64.b64decode(shot))
finally:
    chrome.kill()
    chrome.wait()
