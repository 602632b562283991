"""Personal data never enters the store: phone numbers become salted hashes, names are dropped.

A client's export usually carries a member's phone number (手机号) and name (姓名). The loader calls
:func:`protect` on every frame right after reading and mapping it, before validation, quarantine, logging or
printing see a single value:

- the phone column (named in the mapping, or found by its name in a members file) becomes ``phone_hash``,
  an HMAC-SHA256 (hex) of the normalised number keyed by the chain's salt;
- every other column that looks like a phone, a name or other personal data (:func:`looks_personal`) and is
  not mapped into the contract is dropped, as is every column the mapping lists under ``pii``.

The salt is the environment variable ``WORKBENCH_HASH_SALT`` when set, else a random salt kept in the file
``<store>.salt`` beside the store (created on first load, readable by its owner only). The store never holds
the salt, so its hashes cannot be reversed by trying every phone number; the same salt gives the same hash,
so repeated loads of the same member agree.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from pathlib import Path

import pandas as pd

from workbench.errors import WorkbenchError

SALT_ENV = "WORKBENCH_HASH_SALT"
SALT_SUFFIX = ".salt"
SALT_BYTES = 32  # 256 bits of randomness: as long as the hash itself
SALT_FILE_MODE = 0o600

# Column names that hold personal data. Chinese words match anywhere in the name (会员姓名, 联系电话); English
# words match whole words of a snake/camel/space separated name (member_name, mobileNo), so 'hotel' or
# 'channel' are not mistaken for 'tel' or 'name'.
PERSONAL_WORDS_ZH = (
    "姓名",
    "名字",
    "手机",
    "电话",
    "联系方式",
    "微信号",
    "身份证",
    "证件号",
    "地址",
    "邮箱",
    "昵称",
)
PERSONAL_WORDS_EN = (
    "name", "names", "firstname", "lastname", "fullname", "nickname", "phone", "phones", "mobile", "tel",
    "telephone", "cellphone", "cell", "email", "mail", "address", "wechat", "wxid", "idcard", "passport",
)  # fmt: skip
PHONE_WORDS_ZH = ("手机", "电话")
PHONE_WORDS_EN = ("phone", "mobile", "tel", "telephone", "cellphone", "cell")

# A phone number after normalisation: China's country code (+86 / 0086 / 86 before an 11-digit mobile) is
# dropped so that '+86 138-0013-8000' and '13800138000' hash alike.
_COUNTRY_PREFIXES = ("0086", "86")
_MAINLAND_MOBILE_DIGITS = 11
_HEX_HASH = re.compile(r"^[0-9a-f]{64}$")


def _words(column: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))  # mobileNo -> mobile No
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def looks_personal(column: str) -> bool:
    """True when a column's name suggests personal data (姓名, 手机号, member_name, mobile, ...)."""
    text = str(column)
    if any(word in text for word in PERSONAL_WORDS_ZH):
        return True
    return any(w in PERSONAL_WORDS_EN for w in _words(text))


def looks_like_phone_column(column: str) -> bool:
    """True when a column's name suggests a phone number (手机号, 联系电话, phone, mobile_no, tel)."""
    text = str(column)
    if any(word in text for word in PHONE_WORDS_ZH):
        return True
    return any(w in PHONE_WORDS_EN for w in _words(text))


def normalise_phone(value) -> str | None:
    """Digits only, without China's country code; None when nothing is left.

    '+86 138-0013-8000', '0086 13800138000', '138 0013 8000' and 13800138000.0 (a number from Excel) all
    give '13800138000'.
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if re.fullmatch(r"\d+\.0+", text):  # a phone stored as a number in a spreadsheet
        text = text.split(".")[0]
    digits = re.sub(r"\D", "", text)
    for prefix in _COUNTRY_PREFIXES:
        if digits.startswith(prefix) and len(digits) == len(prefix) + _MAINLAND_MOBILE_DIGITS:
            digits = digits[len(prefix) :]
            break
    return digits or None


def hash_phone(value, salt: str) -> str | None:
    """HMAC-SHA256 (64 hex characters) of the normalised phone number keyed by ``salt``; None if empty."""
    digits = normalise_phone(value)
    if digits is None:
        return None
    return hmac.new(salt.encode("utf-8"), digits.encode("ascii"), hashlib.sha256).hexdigest()


def salt_path(store_path) -> Path:
    """The file beside a store that keeps its salt: ``data/client.duckdb`` -> ``data/client.duckdb.salt``."""
    path = Path(store_path)
    return path.with_name(path.name + SALT_SUFFIX)


def read_salt(store_path) -> str | None:
    """The salt of the store at ``store_path``: ``WORKBENCH_HASH_SALT`` when set, else the salt file beside
    the store; None when neither exists yet."""
    env = os.environ.get(SALT_ENV)
    if env:
        return env
    path = salt_path(store_path)
    if not path.exists():
        return None
    salt = path.read_text(encoding="ascii").strip()
    if not salt:
        raise WorkbenchError(
            f"The salt file {path} is empty. Restore it from a backup (phone hashes in the store depend "
            f"on it), or delete it only if the store holds no phone_hash yet; or set {SALT_ENV}."
        )
    return salt


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def write_salt(store_path, salt: str) -> Path:
    """Keep ``salt`` in the file beside the store, readable by its owner only (mode 0600)."""
    path = salt_path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SALT_FILE_MODE)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(salt + "\n")
    return path


def store_salt(store_path) -> str:
    """The salt for phone hashes of the store at ``store_path``, creating the salt file if there is none.

    ``WORKBENCH_HASH_SALT`` wins when set (a chain that loads into several stores keeps one salt there);
    otherwise the salt file beside the store is read, or created with a new random salt (mode 0600).
    """
    salt = read_salt(store_path)
    if salt is None:
        salt = new_salt()
        write_salt(store_path, salt)
    return salt


def hash_phone_column(values: pd.Series, salt: str) -> pd.Series:
    """Hash a column of phone numbers; values that already are 64-hex hashes are kept as they are."""

    def one(value):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return None
        text = str(value).strip().lower()
        if _HEX_HASH.match(text):
            return text
        return hash_phone(value, salt)

    return values.map(one).astype(object)


def protect(
    frame: pd.DataFrame,
    *,
    keep: set[str],
    phone_column: str | None,
    drop: tuple[str, ...] = (),
    salt: str | None,
) -> tuple[pd.DataFrame, list[str]]:
    """Hash the phone column into ``phone_hash`` and drop personal columns.

    ``frame`` has the client's column names except those already renamed to the contract; ``keep`` are the
    columns that are mapped into the contract (kept even if their names look personal). Returns the frame
    and the names of the dropped columns (names only, never values).
    """
    out = frame.copy()
    dropped: list[str] = []
    if phone_column is not None:
        if salt is None:
            raise WorkbenchError("A phone column can only be hashed with a salt; none was given.")
        out["phone_hash"] = hash_phone_column(out[phone_column], salt)
        if phone_column != "phone_hash":
            out = out.drop(columns=[phone_column])
            dropped.append(phone_column)
    elif "phone_hash" in out.columns and salt is not None:
        # A column mapped to phone_hash that holds raw numbers is hashed rather than stored in the clear.
        out["phone_hash"] = hash_phone_column(out["phone_hash"], salt)
    personal = [
        c for c in out.columns if c not in keep and c != "phone_hash" and (c in drop or looks_personal(c))
    ]
    dropped.extend(personal)
    return out.drop(columns=personal), dropped
