"""A release's description (its README) turned into HTML, as PyPI renders it, and a budget
for doing so.

:func:`render_description` picks the renderer the way PyPI does: Markdown (GFM unless the
variant says CommonMark), reStructuredText (also when no type is given), anything else as plain
text; invalid reStructuredText falls back to plain text. Its HTML is *not* safe yet: the page
that shows it cleans it with its own policy (``stockade.web.index.readme``).

docutils' cost grows faster than the text: a 1 MiB reStructuredText README took 12 s of CPU
here and a 5 MiB one two minutes, paid by every worker that shows the page. So an upload
whose description is larger than :data:`RENDER_CHECK_MIN_BYTES` is rendered once in a child
process limited to a CPU budget (:func:`render_refusal`), and refused if it does not finish.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from email.message import Message

__all__ = ["RENDER_CHECK_MIN_BYTES", "media_type", "render_description", "render_refusal"]

# Below this size a description renders in well under a second; above it, it is rendered once
# under the budget at upload time.
RENDER_CHECK_MIN_BYTES = 64 * 1024
# What the child may use beyond its CPU budget: address space for docutils' tree.
_CHILD_MEMORY = 2 * 1024**3


def media_type(value: str | None) -> tuple[str, str | None]:
    """(media type, markdown variant) of a Description-Content-Type; PyPI's default is rst."""
    if not value:
        return "text/x-rst", None
    msg = Message()
    msg["content-type"] = value
    variant = msg.get_param("variant")
    return msg.get_content_type(), variant if isinstance(variant, str) else None


def render_description(description: str, content_type: str | None) -> tuple[str, str]:
    """(unsanitized HTML, "markdown" | "rst" | "text") for a description."""
    # docutils and the Markdown stack weigh ~20 MiB: load them on the first README only.
    from readme_renderer import markdown, rst, txt

    media, variant = media_type(content_type)
    html: str | None = None
    kind = "text"
    if media == "text/markdown":
        html = markdown.render(description, variant=variant or "GFM")
        kind = "markdown"
    elif media == "text/x-rst":
        html = rst.render(description)
        kind = "rst"
    if html is None:
        html = txt.render(description) or ""
        kind = "text"
    return html, kind


def render_refusal(description: str | None, content_type: str | None, budget: float) -> str | None:
    """Why an upload's description is refused (PyPI's words), or None: one that is large enough
    to be costly must render within ``budget`` seconds of CPU. ``budget`` 0 checks nothing."""
    if not description or budget <= 0:
        return None
    data = description.encode("utf-8", "surrogatepass")
    if len(data) < RENDER_CHECK_MIN_BYTES:
        return None
    seconds = max(1, int(budget + 0.999))
    try:
        # The child limits itself before it reads the text (no preexec_fn: workers have threads).
        done = subprocess.run(
            [sys.executable, "-m", "stockade.dists.readme", str(seconds), content_type or ""],
            input=data,
            capture_output=True,
            timeout=seconds * 3 + 10,
            check=False,
        )
        finished = done.returncode == 0
    except subprocess.TimeoutExpired:
        finished = False
    if finished:
        return None
    media, _ = media_type(content_type)
    return (
        f"The description failed to render for {media!r} within {budget:g} seconds. "
        "See https://pypi.org/help/#description-content-type for more information."
    )


def _main() -> int:
    """Child side of :func:`render_refusal`: ``SECONDS [CONTENT-TYPE]``; render stdin within
    SECONDS of CPU (the kernel ends the process past them), exit 0 when it rendered."""
    seconds = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (_CHILD_MEMORY, _CHILD_MEMORY))
    content_type = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    text = sys.stdin.buffer.read().decode("utf-8", "surrogatepass")
    render_description(text, content_type)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
