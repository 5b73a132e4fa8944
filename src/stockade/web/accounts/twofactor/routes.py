"""Web routes of two-factor authentication.

- ``login``: the second login step (``/account/login/two-factor/…``) and the mailed
  confirmation of a login from a new IP address (``/account/login/confirm/``);
- ``overview``: the account's two-factor page (``/manage/account/two-factor/``);
- ``totp``: setting up and removing the authentication application;
- ``keys``: the security-key script (``/static/webauthn.js``) and the security-key forms;
- ``codes``: a new set of recovery codes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from stockade.web.accounts.twofactor.codes import router as codes_router
from stockade.web.accounts.twofactor.keys import router as keys_router
from stockade.web.accounts.twofactor.login import router as login_router
from stockade.web.accounts.twofactor.overview import router as overview_router
from stockade.web.accounts.twofactor.totp import router as totp_router
from stockade.web.auth import csrf_protect

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
router.include_router(login_router)
router.include_router(overview_router)
router.include_router(totp_router)
router.include_router(keys_router)
router.include_router(codes_router)
