"""The Print button of the recovery-codes page: a tiny script (served as /static/print.js; the
CSP allows scripts from this site only) that shows every ``<button data-print hidden>`` and
makes it open the browser's print dialog. Without the script the button stays hidden, so no
page offers a button that does nothing."""

from __future__ import annotations

__all__ = ["PRINT_SCRIPT", "PRINT_SCRIPT_PATH"]

PRINT_SCRIPT_PATH = "/static/print.js"

PRINT_SCRIPT = """// Print buttons for stockade's pages.
document.querySelectorAll("button[data-print]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
});
"""
