"""The operator console (FastAPI + Jinja2, a little htmx): sign-in, dashboard, roster, participant,
certificates, exports, dead letters. Every page is under /console/ so the gateway can route it
as it is. Data comes from the services' operator APIs on every request; nothing is stored here.
"""

import asyncio
import datetime as dt
import logging
import re
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from shared import contract
from shared.contract.programs import Program, Programs
from shared.platform import logs
from shared.platform.auth import ACTING_HEADER
from shared.platform.http import BASE_HEADERS

from . import charts
from .backend import Backend, ServiceError
from .security import LoginLimit, Session, Sessions, Users, csrf_ok
from .settings import ConsoleSettings

HERE = Path(__file__).parent
PREFIX = "/console"
COOKIE = "konsol_sesi"
JAKARTA = ZoneInfo("Asia/Jakarta")
NIP_RE = re.compile(r"^[0-9]{18}$")
MAX_UPLOAD = 3 * 1024 * 1024  # the roster service's own limit is 2 MiB; a form adds a little
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")  # fmt: skip

JENJANG_WORDS = {"terampil": "Terampil", "mahir": "Mahir", "penyelia": "Penyelia", "ahli_pertama": "Ahli Pertama",
                 "ahli_muda": "Ahli Muda", "ahli_madya": "Ahli Madya", "ahli_utama": "Ahli Utama"}  # fmt: skip
STATUS_WORDS = {"valid": "Sah", "revoked": "Dicabut", "superseded": "Digantikan", "pending": "Dalam proses"}
PROGRESS_WORDS = {"completed": "Lulus", "in_progress": "Masih bisa lulus", "cannot_complete": "Tidak bisa lulus lagi",
                  "withdrawn": "Mengundurkan diri"}  # fmt: skip
ACTION_WORDS = {
    "issued": "Diterbitkan",
    "revoked": "Dicabut",
    "superseded": "Digantikan",
    "reissued": "Diterbitkan ulang",
}
FIELD_WORDS = {"nip": "NIP", "nama": "Nama", "name": "Nama", "jenjang": "Jenjang", "unit_kerja": "Unit kerja",
               "unit kerja": "Unit kerja", "email": "Email"}  # fmt: skip

# The services answer in English (they are read by developers too); the operators read Indonesian.
# The common messages are translated here; anything else is shown as the service said it.
TRANSLATIONS = [
    (re.compile(pattern), words)
    for pattern, words in [
        (r"^NIP must be exactly 18 digits$", "NIP harus tepat 18 angka"),
        (
            r"^NIP digits 1-8 are not a real birth date YYYYMMDD$",
            "Angka 1-8 NIP bukan tanggal lahir yang sah (TTTTBBHH)",
        ),
        (
            r"^NIP digits 9-14 are not a real appointment YYYYMM$",
            "Angka 9-14 NIP bukan bulan pengangkatan yang sah (TTTTBB)",
        ),
        (r"^NIP digit 15 must be 1 or 2$", "Angka ke-15 NIP harus 1 atau 2"),
        (r"^the file is not UTF-8 text", "Berkas bukan teks UTF-8 (simpan CSV sebagai UTF-8)"),
        (r"^the file is empty", "Berkas kosong: baris judul kolom diperlukan"),
        (r"^missing column\(s\): (.*?) \(header.*$", r"Kolom tidak ada: \1"),
        (r"^not a readable XLSX workbook", "Berkas XLSX tidak dapat dibaca"),
        (r"^file of \d+ bytes exceeds the limit", "Berkas terlalu besar (paling besar 2 MB)"),
        (r"^unknown certificate$", "Sertifikat tidak ditemukan"),
        (r"withdrawn", "Peserta ini sudah mengundurkan diri; datanya tidak dapat diubah lagi"),
        (r"^String should have at least 1 character", "Wajib diisi"),
    ]
]


def indonesian(message) -> str:
    text = str(message)
    for pattern, words in TRANSLATIONS:
        if pattern.search(text):
            return pattern.sub(words, text) if "\\1" in words else words
    return text


log = logging.getLogger("console")


class SignIn(Exception):
    """No (live) session: go to the sign-in page."""


class Forbidden(Exception):
    """A form without its CSRF token."""


def create_app(settings: ConsoleSettings) -> FastAPI:
    programs = Programs.load(settings.programs_dir)
    users = Users(settings.console_users)
    sessions = Sessions(settings.console_session_idle_minutes * 60, settings.console_session_max_hours * 3600)
    limit = LoginLimit(settings.console_login_rate_limit, settings.console_login_rate_limit_address,
                       settings.console_login_rate_limit_account)  # fmt: skip
    backend = Backend(settings)
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.globals.update(prefix=PREFIX, jenjang_words=JENJANG_WORDS, status_words=STATUS_WORDS,
                       progress_words=PROGRESS_WORDS, action_words=ACTION_WORDS, field_words=FIELD_WORDS,
                       jenjang_all=contract.JENJANG, poll_seconds=settings.console_poll_seconds)  # fmt: skip
    env.filters["angka"] = lambda n: f"{n:,}".replace(",", ".") if isinstance(n, int) else n
    env.filters["waktu"] = _waktu
    env.filters["id"] = indonesian

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        log.info("started", extra={"users": len(users._hashes)})
        yield
        await backend.close()
        log.info("stopped")

    app = FastAPI(title="Konsol Operator Humas Level Up", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_UPLOAD:
            return Response("Berkas terlalu besar", status_code=413)
        response = await call_next(request)
        for name, value in {**BASE_HEADERS, "Content-Security-Policy": CSP}.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(f"{PREFIX}/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    # --- sessions, CSRF -------------------------------------------------------------------

    def secure(request: Request) -> bool:
        return settings.console_secure_cookies or request.url.scheme == "https"

    def with_cookie(response: Response, request: Request, session: Session) -> Response:
        response.set_cookie(COOKIE, session.id, httponly=True, samesite="strict", secure=secure(request), path=PREFIX)
        return response

    def signed_in(request: Request) -> Session:
        session = sessions.get(request.cookies.get(COOKIE))
        if session is None or session.user is None:
            raise SignIn()
        return session

    async def checked_form(request: Request, session: Session | None):
        form = await request.form(max_files=1, max_fields=50)
        if not csrf_ok(session, form.get("csrf")):
            raise Forbidden()
        return form

    def page(request: Request, name: str, session: Session | None, status: int = 200, **context) -> HTMLResponse:
        program = context.pop("program", None) or default_program(request)
        flash = None
        if session is not None and session.flash:
            flash, session.flash = session.flash, None
        return templates.TemplateResponse(request, name, {"session": session, "csrf": session.csrf if session else "",
                                                          "program": program, "programs": list(programs),
                                                          "flash": flash, **context}, status_code=status)  # fmt: skip

    def default_program(request: Request) -> Program:
        wanted = request.query_params.get("program")
        return programs.get(wanted) if wanted in programs else next(iter(programs))

    def form_program(form, request: Request) -> Program:
        """The program a posted form names, else the page's (or the first)."""
        return programs.get(form.get("program")) if form.get("program") in programs else default_program(request)

    def see(path: str, **query) -> RedirectResponse:
        return RedirectResponse(PREFIX + path + (("?" + urlencode(query)) if query else ""), status_code=303)

    @app.exception_handler(SignIn)
    async def to_sign_in(request: Request, exc: SignIn):
        if request.headers.get("HX-Request"):  # a poll after expiry: send the whole page to sign-in
            return Response(status_code=204, headers={"HX-Redirect": f"{PREFIX}/masuk"})
        return see("/masuk")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden):
        session = sessions.get(request.cookies.get(COOKIE))
        return page(
            request,
            "error.html",
            session,
            403,
            title="Akses ditolak",
            message="Formulir ini tidak membawa token keamanan yang sah (CSRF). Muat ulang halaman lalu coba lagi.",
        )

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        session = sessions.get(request.cookies.get(COOKIE))
        status = exc.status if 400 <= exc.status < 500 else 502
        return page(
            request, "error.html", session, status, title="Permintaan tidak dapat diproses", message=_reason(exc.detail)
        )

    # --- health ---------------------------------------------------------------------------

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        if not users or not settings.console_api_key:
            return JSONResponse({"status": "not ready", "reason": "CONSOLE_USERS or CONSOLE_API_KEY missing"}, 503)
        return {"status": "ready"}

    # --- sign-in --------------------------------------------------------------------------

    @app.get(f"{PREFIX}/masuk", response_class=HTMLResponse)
    async def sign_in_page(request: Request):
        session = sessions.get(request.cookies.get(COOKIE))
        if session is not None and session.user:
            return see("/")
        session = session or sessions.new()
        return with_cookie(page(request, "login.html", session), request, session)

    @app.post(f"{PREFIX}/masuk", response_class=HTMLResponse)
    async def sign_in(request: Request):
        session = sessions.get(request.cookies.get(COOKIE))
        form = await checked_form(request, session)
        name, password = str(form.get("nama", "")).strip(), str(form.get("kata_sandi", ""))
        address = request.client.host if request.client else "unknown"
        if (wait := limit.retry_after(address, name)) is not None:
            log.warning("sign-in refused: too many failures")
            return _with_retry(
                page(
                    request,
                    "login.html",
                    session,
                    429,
                    nama=name,
                    error=(f"Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam {wait} detik."),
                ),
                wait,
            )
        if not name or not password or not await asyncio.to_thread(users.check, name, password):
            limit.failed(address, name)
            log.info("sign-in failed")
            return page(request, "login.html", session, 401, nama=name, error="Nama pengguna atau kata sandi salah.")
        sessions.end(session)  # a new session id at sign-in: a planted cookie is worth nothing
        fresh = sessions.new(name)
        log.info("signed in", extra={"operator": name})
        return with_cookie(see("/"), request, fresh)

    @app.post(f"{PREFIX}/keluar")
    async def sign_out(request: Request):
        session = signed_in(request)
        await checked_form(request, session)
        sessions.end(session)
        response = see("/masuk")
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=secure(request))
        return response

    # --- dashboard ------------------------------------------------------------------------

    async def dashboard_data(program: Program, user: str) -> dict:
        overview, timeline, dead = await asyncio.gather(
            backend.call("attendance", "GET", f"/api/attendance/{program.id}/overview", user),
            backend.call("certificates", "GET", f"/api/certificates/timeline/{program.id}", user),
            backend.dead_letter_counts(),
        )
        jenjang = [(JENJANG_WORDS.get(k, k), overview["by_jenjang"][k]) for k in sorted(
            overview["by_jenjang"], key=lambda k: contract.JENJANG.index(k) if k in contract.JENJANG else 99)]  # fmt: skip
        units = sorted(overview["by_unit_kerja"].items(), key=lambda kv: (-kv[1].get("enrolled", 0), kv[0]))
        points = _periods(timeline["issued_per_minute"])
        return {
            "total": overview["total"],
            "sessions": overview["sessions"],
            "jenjang": jenjang,
            "units": units,
            "status": timeline["status"],
            "issued": points,
            "issued_total": sum(n for _, n in points),
            "dead": dead,
            "dead_total": None if dead is None else sum(dead.values()),
            "chart_sessions": charts.sessions(overview["sessions"]),
            "chart_jenjang": charts.outlook(jenjang),
            "chart_units": charts.outlook([(k, v) for k, v in units[:12]]),
            "chart_issued": charts.issued(points) if points else None,
            "updated": dt.datetime.now(JAKARTA).strftime("%H.%M.%S"),
        }

    @app.get(f"{PREFIX}/", response_class=HTMLResponse)
    async def dashboard(request: Request):
        session = signed_in(request)
        program = default_program(request)
        return page(request, "dashboard.html", session, data=await dashboard_data(program, session.user))

    @app.get(f"{PREFIX}/panel", response_class=HTMLResponse)
    async def panel(request: Request):
        session = signed_in(request)
        program = default_program(request)
        return page(request, "_panel.html", session, data=await dashboard_data(program, session.user))

    # --- roster ---------------------------------------------------------------------------

    @app.get(f"{PREFIX}/roster", response_class=HTMLResponse)
    async def roster(request: Request):
        session = signed_in(request)
        return page(request, "roster.html", session)

    @app.post(f"{PREFIX}/roster/periksa", response_class=HTMLResponse)
    async def roster_check(request: Request):
        session = signed_in(request)
        form = await checked_form(request, session)
        program = form_program(form, request)
        upload = form.get("berkas")
        if upload is None or not getattr(upload, "filename", None):
            return page(
                request, "roster.html", session, 400, program=program, upload_error="Pilih berkas CSV atau XLSX."
            )
        content = await upload.read()
        kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" \
            if upload.filename.lower().endswith(".xlsx") else "text/csv"  # fmt: skip
        try:
            report = await _import(backend, program.id, session.user, content, kind, dry_run=True)
        except ServiceError as e:
            if e.status in (400, 413, 415):
                return page(request, "roster.html", session, 400, program=program, upload_error=_reason(e.detail))
            raise
        token = None
        if not report["errors"]:
            token = _token()
            session.pending_upload = (token, content, kind)
        return page(
            request, "roster.html", session, program=program, report=report, token=token, filename=upload.filename
        )

    @app.post(f"{PREFIX}/roster/impor", response_class=HTMLResponse)
    async def roster_import(request: Request):
        session = signed_in(request)
        form = await checked_form(request, session)
        program = form_program(form, request)
        pending = session.pending_upload
        if pending is None or pending[0] != form.get("token"):
            return page(
                request,
                "roster.html",
                session,
                409,
                program=program,
                upload_error="Berkas yang diperiksa tidak ditemukan lagi. Unggah dan periksa ulang.",
            )
        session.pending_upload = None
        report = await _import(backend, program.id, session.user, pending[1], pending[2], dry_run=False)
        return page(request, "roster.html", session, program=program, imported=report)

    @app.post(f"{PREFIX}/roster/peserta", response_class=HTMLResponse)
    async def roster_put(request: Request):
        session = signed_in(request)
        form = await checked_form(request, session)
        program = form_program(form, request)
        body = {"nip": form.get("nip", "").strip(), "name": form.get("nama", "").strip(),
                "jenjang": form.get("jenjang", ""), "unit_kerja": form.get("unit_kerja", "").strip()}  # fmt: skip
        if form.get("email", "").strip():
            body["email"] = form.get("email").strip()
        try:
            result = await backend.call("enrollment", "PUT", f"/api/roster/{program.id}/participants", session.user,
                                        json=body)  # fmt: skip
        except ServiceError as e:
            if e.status in (409, 422):
                return page(request, "roster.html", session, e.status, program=program, put_error=_reason(e.detail),
                            put=body)  # fmt: skip
            raise
        message = "Data peserta tidak berubah." if result["status"] == "unchanged" else "Data peserta disimpan."
        return page(request, "roster.html", session, program=program, put_ok=message)

    @app.post(f"{PREFIX}/roster/mundur", response_class=HTMLResponse)
    async def roster_withdraw(request: Request):
        session = signed_in(request)
        form = await checked_form(request, session)
        program = form_program(form, request)
        body = {"nip": form.get("nip", "").strip(), "reason": form.get("alasan", "").strip()}
        if form.get("yakin") != "ya":
            return page(
                request,
                "roster.html",
                session,
                400,
                program=program,
                withdraw_error="Centang konfirmasi untuk mengundurkan peserta.",
            )
        try:
            await backend.call("enrollment", "POST", f"/api/roster/{program.id}/withdrawals", session.user, json=body)
        except ServiceError as e:
            if e.status in (404, 409, 422):
                return page(
                    request, "roster.html", session, e.status, program=program, withdraw_error=_reason(e.detail)
                )
            raise
        return page(request, "roster.html", session, program=program, withdraw_ok="Peserta diundurkan.")

    # --- participant ----------------------------------------------------------------------

    @app.get(f"{PREFIX}/peserta", response_class=HTMLResponse)
    async def participant_page(request: Request):
        return page(request, "participant.html", signed_in(request))

    @app.post(f"{PREFIX}/peserta", response_class=HTMLResponse)
    async def participant_search(request: Request):
        session = signed_in(request)
        form = await checked_form(request, session)
        program = form_program(form, request)
        query = " ".join(str(form.get("q", "")).split())
        if NIP_RE.match(query):
            return await participant_detail(request, session, program, query)
        if len(query) < 2:
            return page(
                request,
                "participant.html",
                session,
                400,
                program=program,
                q=query,
                error="Ketik minimal 2 huruf nama, atau NIP lengkap (18 angka).",
            )
        found = await backend.call("enrollment", "POST", f"/api/roster/{program.id}/search", session.user,
                                   json={"query": query, "limit": 50})  # fmt: skip
        return page(request, "participant.html", session, program=program, q=query, found=found)

    @app.post(f"{PREFIX}/peserta/detail", response_class=HTMLResponse)
    async def participant_chosen(request: Request):
        session = signed_in(request)
        form = await checked_form(request, session)
        program = form_program(form, request)
        nip = str(form.get("nip", "")).strip()
        if not NIP_RE.match(nip):
            return page(request, "participant.html", session, 400, program=program, error="NIP harus 18 angka.")
        return await participant_detail(request, session, program, nip)

    async def participant_detail(request: Request, session: Session, program: Program, nip: str):
        try:
            progress = await backend.call("attendance", "POST", f"/api/attendance/{program.id}/progress", session.user,
                                          json={"nip": nip})  # fmt: skip
        except ServiceError as e:
            if e.status != 404:
                raise
            return page(
                request,
                "participant.html",
                session,
                404,
                program=program,
                error="Peserta dengan NIP itu belum tercatat di program ini.",
            )
        certs = await backend.call("certificates", "POST", "/api/certificates/search", session.user,
                                   json={"program_id": program.id, "nip": nip})  # fmt: skip
        today = dt.datetime.now(JAKARTA).date()
        counted = set(progress["sessions_counted"])
        short = set(progress["sessions_recorded_not_counted"])
        grid = []
        for s in program.sessions:
            if s.number in counted:
                state, word = "counted", "Dihitung"
            elif s.number in short:
                state, word = "short", "Kurang durasi"
            elif s.date <= today:
                state, word = "absent", "Tidak hadir"
            else:
                state, word = "future", "Belum dilaksanakan"
            grid.append({"number": s.number, "date": s.date, "state": state, "word": word,
                         "minutes": progress["presence_minutes"].get(str(s.number))})  # fmt: skip
        current = [c for c in certs["certificates"] if c["status"] in ("valid", "revoked", "pending")]
        return page(request, "participant.html", session, program=program, person=progress, grid=grid,
                    certificates=certs["certificates"], current=current[-1] if current else None)  # fmt: skip

    # --- certificates ---------------------------------------------------------------------

    @app.get(f"{PREFIX}/sertifikat", response_class=HTMLResponse)
    async def certificates(request: Request):
        session = signed_in(request)
        program = default_program(request)
        q = request.query_params
        per_page = 25
        page_no = int(q["hal"]) if q.get("hal", "").isdigit() and int(q["hal"]) > 0 else 1
        filters = {"program_id": program.id, "limit": per_page, "offset": (page_no - 1) * per_page}
        chosen = {}
        if q.get("status") in STATUS_WORDS:
            filters["status"] = chosen["status"] = q["status"]
        if q.get("jenjang") in JENJANG_WORDS:
            filters["jenjang"] = chosen["jenjang"] = q["jenjang"]
        if q.get("unit_kerja", "").strip():
            filters["unit_kerja"] = chosen["unit_kerja"] = q["unit_kerja"].strip()
        result = await backend.call("certificates", "GET", "/api/certificates", session.user, params=filters)
        pages = max(1, -(-result["total"] // per_page))

        def link(n: int) -> str:
            return f"{PREFIX}/sertifikat?" + urlencode({"program": program.id, **chosen, "hal": n})

        return page(request, "certificates.html", session, program=program, result=result, chosen=chosen,
                    page_no=page_no, pages=pages, prev=link(page_no - 1) if page_no > 1 else None,
                    next=link(page_no + 1) if page_no < pages else None)  # fmt: skip

    async def certificate_of(code: str, user: str) -> dict:
        if not re.fullmatch(r"[A-Za-z0-9_-]{10,64}", code):
            raise ServiceError(404, "unknown certificate")
        return await backend.call("certificates", "GET", f"/api/certificates/{code}", user)

    @app.get(f"{PREFIX}/sertifikat/{{code}}", response_class=HTMLResponse)
    async def certificate(request: Request, code: str):
        session = signed_in(request)
        cert = await certificate_of(code, session.user)
        return page(request, "certificate.html", session, program=_program_of(programs, cert, request, default_program),
                    cert=cert)  # fmt: skip

    @app.get(f"{PREFIX}/sertifikat/{{code}}/cabut", response_class=HTMLResponse)
    async def revoke_form(request: Request, code: str):
        session = signed_in(request)
        cert = await certificate_of(code, session.user)
        return page(request, "revoke.html", session, cert=cert, step="alasan")

    @app.post(f"{PREFIX}/sertifikat/{{code}}/cabut", response_class=HTMLResponse)
    async def revoke(request: Request, code: str):
        session = signed_in(request)
        form = await checked_form(request, session)
        cert = await certificate_of(code, session.user)
        reason = " ".join(str(form.get("alasan", "")).split())
        if not 1 <= len(reason) <= 500:
            return page(
                request,
                "revoke.html",
                session,
                400,
                cert=cert,
                step="alasan",
                error="Tuliskan alasan pencabutan (paling banyak 500 karakter).",
            )
        if form.get("langkah") != "konfirmasi":  # the confirmation step: nothing changes yet
            return page(request, "revoke.html", session, cert=cert, step="konfirmasi", reason=reason)
        await backend.call(
            "certificates", "POST", f"/api/certificates/{code}/revoke", session.user, json={"reason": reason}
        )
        session.flash = f"Sertifikat {cert['number']} telah dicabut."
        return see(f"/sertifikat/{code}")

    @app.get(f"{PREFIX}/sertifikat/{{code}}/terbit-ulang", response_class=HTMLResponse)
    async def reissue_form(request: Request, code: str):
        session = signed_in(request)
        cert = await certificate_of(code, session.user)
        return page(request, "reissue.html", session, cert=cert, values=cert)

    @app.post(f"{PREFIX}/sertifikat/{{code}}/terbit-ulang", response_class=HTMLResponse)
    async def reissue(request: Request, code: str):
        session = signed_in(request)
        form = await checked_form(request, session)
        cert = await certificate_of(code, session.user)
        values = {"name": " ".join(str(form.get("nama", "")).split()), "jenjang": form.get("jenjang", ""),
                  "unit_kerja": " ".join(str(form.get("unit_kerja", "")).split())}  # fmt: skip
        reason = " ".join(str(form.get("alasan", "")).split())
        corrections = {k: v for k, v in values.items() if v and v != cert[k]}
        if not reason or not corrections:
            return page(
                request,
                "reissue.html",
                session,
                400,
                cert=cert,
                values=values,
                error="Isi alasan dan ubah minimal satu data (nama, jenjang atau unit kerja).",
            )
        try:
            new = await backend.call("certificates", "POST", f"/api/certificates/{code}/reissue", session.user,
                                     json={"reason": reason, **corrections})  # fmt: skip
        except ServiceError as e:
            if e.status in (409, 422):
                return page(
                    request, "reissue.html", session, e.status, cert=cert, values=values, error=_reason(e.detail)
                )
            raise
        session.flash = f"Sertifikat {new['number']} diterbitkan ulang (revisi {new['revision']})."
        return see(f"/sertifikat/{new['code']}")

    # --- exports, dead letters ------------------------------------------------------------

    @app.get(f"{PREFIX}/ekspor", response_class=HTMLResponse)
    async def exports(request: Request):
        return page(request, "exports.html", signed_in(request))

    EXPORTS = {"sertifikat.csv": ("/api/certificates/export/{p}.csv", "text/csv; charset=utf-8"),
               "sertifikat.zip": ("/api/certificates/export/{p}.zip", "application/zip"),
               "siasn.csv": ("/api/certificates/export/{p}/siasn.csv", "text/csv; charset=utf-8"),
               "siasn.json": ("/api/certificates/export/{p}/siasn.json", "application/json")}  # fmt: skip

    @app.get(f"{PREFIX}/ekspor/{{name}}")
    async def download(request: Request, name: str):
        session = signed_in(request)
        program = default_program(request)
        if name not in EXPORTS:
            raise ServiceError(404, "unknown export")
        path, media = EXPORTS[name]
        opened = backend.stream("certificates", path.format(p=program.id), session.user)
        upstream = await opened.__aenter__()

        async def body():
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                await opened.__aexit__(None, None, None)

        filename = f"{name.split('.')[0]}-{program.id}.{name.split('.')[1]}"
        return StreamingResponse(
            body(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )

    @app.get(f"{PREFIX}/pesan-ditolak", response_class=HTMLResponse)
    async def dead_letters(request: Request):
        session = signed_in(request)
        letters = await backend.dead_letters()
        return page(request, "deadletters.html", session, letters=letters)

    @app.get(PREFIX, include_in_schema=False)
    async def bare():
        return see("/")

    return app


async def _import(backend: Backend, program_id: str, user: str, content: bytes, kind: str, dry_run: bool) -> dict:
    query = "?dry_run=true" if dry_run else ""
    response = await backend.http.post(f"{backend.urls['enrollment']}/api/roster/{program_id}/import{query}",
                                       content=content, headers={"Content-Type": kind, ACTING_HEADER: user})  # fmt: skip
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code == 200 or (response.status_code == 422 and "errors" in body):
        return body
    raise ServiceError(response.status_code, body.get("detail", response.text[:300]))


def _with_retry(response: Response, seconds: int) -> Response:
    response.headers["Retry-After"] = str(seconds)
    return response


def _token() -> str:
    return secrets.token_urlsafe(16)


def _program_of(programs: Programs, cert: dict, request: Request, default) -> Program:
    return programs.get(cert["program_id"]) if cert.get("program_id") in programs else default(request)


def _reason(detail) -> str:
    """A service's reason, readable: pydantic lists become 'field: message' lines."""
    if isinstance(detail, list):
        return "; ".join(f"{FIELD_WORDS.get(str(d.get('field', '')), d.get('field', ''))}: "
                         f"{indonesian(d.get('message', d.get('msg', '')))}" if isinstance(d, dict) else indonesian(d)
                         for d in detail)  # fmt: skip
    if isinstance(detail, dict):
        return indonesian(detail.get("detail", detail))
    return indonesian(detail)


def _waktu(value: str | None) -> str:
    if not value:
        return "–"
    try:
        when = dt.datetime.fromisoformat(value).astimezone(JAKARTA)
    except ValueError:
        return value
    return when.strftime("%d-%m-%Y %H.%M WIB")


def _periods(per_minute: dict[str, int]) -> list[tuple[str, int]]:
    """Per minute, hour or day, whichever gives a readable number of points for the span."""
    if not per_minute:
        return []
    keys = sorted(per_minute)
    first, last = dt.datetime.fromisoformat(keys[0]), dt.datetime.fromisoformat(keys[-1])
    span = last - first
    width = 10 if span > dt.timedelta(days=2) else 13 if span > dt.timedelta(hours=3) else 16
    out: dict[str, int] = {}
    for key, n in per_minute.items():
        out[key[:width]] = out.get(key[:width], 0) + n
    fmt = {10: "%d-%m-%Y", 13: "%d-%m %H.00", 16: "%H.%M"}[width]
    parse = {10: "%Y-%m-%d", 13: "%Y-%m-%dT%H", 16: "%Y-%m-%dT%H:%M"}[width]
    return [(dt.datetime.strptime(k, parse).strftime(fmt), out[k]) for k in sorted(out)]


def main() -> None:
    import uvicorn

    settings = ConsoleSettings()
    logs.configure("console", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning",
                access_log=False, proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)  # fmt: skip
