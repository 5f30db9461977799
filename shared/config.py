"""Read every setting once per process into one frozen, validated ``Settings`` object.

In Azure the code reads only environment variables (app settings, Key Vault references
resolved by the platform). Locally the dev host copies ``local.settings.json`` ``Values``
into the environment first, exactly as the Functions host does. Tests build
``Settings(...)`` directly with keyword arguments.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.domain.errors import ConfigError
from shared.domain.rolls import RollPolicy, parse_roll_overrides

# The folder that holds function_app.py, host.json and shared/: the app root in Azure (the
# deployed package) and the repository root locally.
APP_ROOT = Path(__file__).resolve().parent.parent

# App Service and Functions put a Key Vault reference in the environment as its own text when
# they cannot resolve it (secret missing, identity without access): "@Microsoft.KeyVault(...)".
# https://learn.microsoft.com/azure/app-service/app-service-key-vault-references
_KEY_VAULT_REFERENCE = "@microsoft.keyvault("
_UNRESOLVED = "unresolved_key_vault_reference"

# PAPER=true refuses Tradovate's live environment. The environment is the REST host: "demo runs
# in simulation mode ... with fake money, whereas live uses your real, funded account"
# (Tradovate API FAQ, "How is the Tradovate API partitioned"); live.tradovateapi.com and its
# older and staging namesakes (live-api-d.tradovate.com, live-d.tradovateapi.com,
# live-api.staging.ninjatrader.dev; reference §1.1-1.2) begin with "live". The Account entity
# carries no demo/live flag, so the host is the guard for live accounts too (docs/going-live.md).
PAPER_LIVE_ENVIRONMENT = "paper_live_environment"
_TRADOVATE_DOMAINS = ("tradovateapi.com", "tradovate.com", "ninjatrader.dev")


def is_live_tradovate_url(url: str) -> bool:
    """Say whether ``url`` is a host of Tradovate's live (funded) environment.

    Demo hosts, the market-data and replay hosts, and anything that is not Tradovate's (the
    local simulator included) are not live.
    """
    text = url.strip()
    host = (urlsplit(text if "://" in text else f"//{text}").hostname or "").rstrip(".")
    ours = any(host == domain or host.endswith(f".{domain}") for domain in _TRADOVATE_DOMAINS)
    return ours and host.split(".", 1)[0].startswith("live")


def is_unresolved_reference(value: object) -> bool:
    """Tell whether a setting's value is a Key Vault reference left unresolved by the platform."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return isinstance(value, str) and value.strip().lower().startswith(_KEY_VAULT_REFERENCE)


def _strict_bool(value: object) -> object:
    """Accept only real booleans or the words true/false, so "yes" or "1" is an error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ValueError("must be true or false")


StrictFlag = Annotated[bool, BeforeValidator(_strict_bool)]
# An NCRONTAB expression as the Functions host reads it: six fields, seconds first.
_NCRONTAB = r"^\S+( \S+){5}$"


# host.json "functionTimeout" (00:02:00), in seconds; tests/functions check they agree.
FUNCTION_TIMEOUT_S = 120.0


def _env(*names: str) -> Any:
    """Name the environment variable(s) a field is read from; the first is the documented one."""
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Hold every setting Tradebridge reads; see ``local.settings.json.example`` for each."""

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    # --- signals queue -------------------------------------------------------------------
    queue_backend: Literal["servicebus", "local"] = Field(
        "servicebus", validation_alias=_env("QUEUE_BACKEND", "queue_backend")
    )
    signals_queue_name: str = Field(
        "signals", validation_alias=_env("SIGNALS_QUEUE_NAME", "signals_queue_name")
    )
    servicebus_namespace: str | None = Field(
        None,
        validation_alias=_env(
            "ServiceBusConnection__fullyQualifiedNamespace", "servicebus_namespace"
        ),
    )
    servicebus_client_id: str | None = Field(
        None, validation_alias=_env("ServiceBusConnection__clientId", "servicebus_client_id")
    )
    servicebus_connection_string: SecretStr | None = Field(
        None, validation_alias=_env("ServiceBusConnection", "servicebus_connection_string")
    )
    queue_max_delivery_count: int = Field(
        5,
        ge=1,
        le=10,
        validation_alias=_env("QUEUE_MAX_DELIVERY_COUNT", "queue_max_delivery_count"),
    )
    # Short, and renewed while a function runs: a dead instance's sessions move on within it.
    queue_lock_duration_s: int = Field(
        20, ge=5, le=300, validation_alias=_env("QUEUE_LOCK_DURATION_S", "queue_lock_duration_s")
    )
    queue_duplicate_window_s: int = Field(
        600,
        ge=20,
        le=604_800,
        validation_alias=_env("QUEUE_DUPLICATE_WINDOW_S", "queue_duplicate_window_s"),
    )
    queue_message_ttl_s: int = Field(
        3600, ge=60, validation_alias=_env("QUEUE_MESSAGE_TTL_S", "queue_message_ttl_s")
    )
    # Back-off between deliveries of a message that failed transiently: the trigger waits
    # min(max, base * 2**(delivery - 1)) times a random fraction before it lets the message go
    # back (functions/execute_sb.py). Every wait of one message together must fit in one run
    # of the function (host.json functionTimeout), so max * (deliveries - 1) is checked below.
    queue_retry_backoff_base_s: float = Field(
        1.0,
        gt=0,
        le=60,
        validation_alias=_env("QUEUE_RETRY_BACKOFF_BASE_S", "queue_retry_backoff_base_s"),
    )
    queue_retry_backoff_max_s: float = Field(
        20.0,
        gt=0,
        le=60,
        validation_alias=_env("QUEUE_RETRY_BACKOFF_MAX_S", "queue_retry_backoff_max_s"),
    )
    # Plan only from a view proven current (shared/services/expectation.py): poll the worker's
    # cache this long for it to show what earlier signals did, then read Tradovate REST.
    executor_view_wait_ms: int = Field(
        150,
        ge=0,
        le=5000,
        validation_alias=_env("EXECUTOR_VIEW_WAIT_MS", "executor_view_wait_ms"),
    )
    # A market order's fill is part of its message's work (shared/services/settle.py): wait for
    # the cache to show it this long, then ask REST, and give up (fill "unconfirmed", next plan
    # from REST) after the timeout.
    executor_fill_cache_s: float = Field(
        1.0,
        ge=0,
        le=30,
        validation_alias=_env("EXECUTOR_FILL_CACHE_S", "executor_fill_cache_s"),
    )
    executor_fill_timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        validation_alias=_env("EXECUTOR_FILL_TIMEOUT_S", "executor_fill_timeout_s"),
    )

    # --- Redis (contract map, token, live state, kill switches, local queue) ----------------
    redis_url: SecretStr = Field(validation_alias=_env("REDIS_URL", "redis_url"))
    # How processes sign in to Redis. "entra": an Entra ID token for this app's identity, sent
    # with AUTH (user = the identity's object id) and renewed before it expires; Azure Managed
    # Redis with access keys off accepts nothing else. "url": whatever REDIS_URL carries (a
    # password in the URL, or none), for the local stack.
    redis_auth: Literal["url", "entra"] = Field("url", validation_alias=_env("REDIS_AUTH"))
    redis_entra_scope: str = Field(
        "https://redis.azure.com/.default", validation_alias=_env("REDIS_ENTRA_SCOPE")
    )
    # The user-assigned identity whose token signs in; AZURE_CLIENT_ID when unset.
    redis_client_id: str | None = Field(None, validation_alias=_env("REDIS_CLIENT_ID"))

    # --- Table storage (journal, ledger, history) -------------------------------------------
    tables_service_uri: str | None = Field(
        None, validation_alias=_env("TablesConnection__serviceUri", "tables_service_uri")
    )
    tables_client_id: str | None = Field(
        None, validation_alias=_env("TablesConnection__clientId", "tables_client_id")
    )
    tables_connection_string: SecretStr | None = Field(
        None, validation_alias=_env("TablesConnection", "tables_connection_string")
    )
    table_prefix: str = Field(
        "tb", pattern=r"^[A-Za-z][A-Za-z0-9]{0,19}$", validation_alias=_env("TABLE_PREFIX")
    )
    # The ledger's working copy lives in Redis this long; Table storage keeps it for good.
    ledger_ttl_days: int = Field(14, ge=1, le=365, validation_alias=_env("LEDGER_TTL_DAYS"))

    # --- Key Vault and identity -----------------------------------------------------------------
    key_vault_uri: str | None = Field(None, validation_alias=_env("KEY_VAULT_URI", "key_vault_uri"))
    azure_client_id: str | None = Field(
        None, validation_alias=_env("AZURE_CLIENT_ID", "azure_client_id")
    )

    # --- telemetry (Application Insights; an identifier, not a credential: local auth is off) ---
    applicationinsights_connection_string: str | None = Field(
        None, validation_alias=_env("APPLICATIONINSIGHTS_CONNECTION_STRING")
    )

    # --- webhook ----------------------------------------------------------------------------------
    webhook_extra_allowed_ips: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=_env("WEBHOOK_EXTRA_ALLOWED_IPS", "webhook_extra_allowed_ips")
    )
    webhook_max_body_bytes: int = Field(
        65_536, ge=1024, le=262_144, validation_alias=_env("WEBHOOK_MAX_BODY_BYTES")
    )
    webhook_journal_timeout_s: float = Field(
        0.0, ge=0, le=2, validation_alias=_env("WEBHOOK_JOURNAL_TIMEOUT_S")
    )

    @field_validator("webhook_extra_allowed_ips", mode="before")
    @classmethod
    def _split_ips(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return tuple(str(ipaddress.ip_address(str(v).strip())) for v in value)
        return value

    # --- Tradovate ----------------------------------------------------------------------------
    tradovate_base_url: str = Field(
        "https://demo.tradovateapi.com/v1",
        validation_alias=_env("TRADOVATE_BASE_URL", "tradovate_base_url"),
    )
    tradovate_md_ws_url: str = Field(
        "wss://md.tradovateapi.com/v1/websocket",
        validation_alias=_env("TRADOVATE_MD_WS_URL", "tradovate_md_ws_url"),
    )
    tradovate_username: str = Field(
        validation_alias=_env("TRADOVATE_USERNAME", "tradovate_username")
    )
    tradovate_password: SecretStr = Field(
        validation_alias=_env("TRADOVATE_PASSWORD", "tradovate_password")
    )
    tradovate_app_id: str = Field(
        "Tradebridge", validation_alias=_env("TRADOVATE_APP_ID", "tradovate_app_id")
    )
    tradovate_app_version: str = Field(
        "0.1.0", validation_alias=_env("TRADOVATE_APP_VERSION", "tradovate_app_version")
    )
    tradovate_cid: str = Field(validation_alias=_env("TRADOVATE_CID", "tradovate_cid"))
    tradovate_sec: SecretStr = Field(validation_alias=_env("TRADOVATE_SEC", "tradovate_sec"))
    tradovate_device_id: str = Field(
        validation_alias=_env("TRADOVATE_DEVICE_ID", "tradovate_device_id")
    )
    tradovate_request_timeout_s: float = Field(
        5.0, gt=0, le=60, validation_alias=_env("TRADOVATE_REQUEST_TIMEOUT_S")
    )
    # How long an idle REST connection is kept for the next request. Longer saves an alert
    # after a quiet spell a new TCP and TLS connection; Tradovate's own idle timeout is not
    # published, and Azure drops idle outbound flows after 4 minutes, hence the bound.
    tradovate_keepalive_s: float = Field(
        5.0, ge=0, le=230, validation_alias=_env("TRADOVATE_KEEPALIVE_S")
    )
    # Client behaviour (shared/adapters/tradovate): retry budget for 429/423 and safe repeats,
    # longest p-ticket wait we obey inline, how long logins pause after a p-captcha.
    tradovate_retry_budget_s: float = Field(
        10.0, gt=0, le=120, validation_alias=_env("TRADOVATE_RETRY_BUDGET_S")
    )
    tradovate_max_penalty_wait_s: float = Field(
        30.0, ge=0, le=600, validation_alias=_env("TRADOVATE_MAX_PENALTY_WAIT_S")
    )
    tradovate_captcha_backoff_s: float = Field(
        3600.0, ge=60, validation_alias=_env("TRADOVATE_CAPTCHA_BACKOFF_S")
    )
    # Renew the shared token this long before expiry (reference §2.3: about 15 minutes).
    tradovate_token_renew_margin_s: float = Field(
        900.0, ge=60, le=3600, validation_alias=_env("TRADOVATE_TOKEN_RENEW_MARGIN_S")
    )
    # WebSocket: client heartbeat period (§4.4), silence before reconnecting, backoff cap.
    tradovate_ws_heartbeat_s: float = Field(
        2.5, gt=0, le=2.5, validation_alias=_env("TRADOVATE_WS_HEARTBEAT_S")
    )
    tradovate_ws_silence_s: float = Field(
        15.0, ge=3, le=300, validation_alias=_env("TRADOVATE_WS_SILENCE_S")
    )
    tradovate_ws_reconnect_max_s: float = Field(
        30.0, ge=1, le=600, validation_alias=_env("TRADOVATE_WS_RECONNECT_MAX_S")
    )
    # First reconnect delay (doubled per failed attempt up to the cap, jittered), and how long a
    # connection must stay up before the next drop starts again from the first delay.
    tradovate_ws_reconnect_base_s: float = Field(
        0.5, gt=0, le=10, validation_alias=_env("TRADOVATE_WS_RECONNECT_BASE_S")
    )
    tradovate_ws_stable_after_s: float = Field(
        10.0, gt=0, le=600, validation_alias=_env("TRADOVATE_WS_STABLE_AFTER_S")
    )
    # Which token authorizes the market-data socket; sources disagree (§2.2), "access" is
    # what the official tutorial and a staff answer use.
    tradovate_md_authorize_with: Literal["access", "md"] = Field(
        "access", validation_alias=_env("TRADOVATE_MD_AUTHORIZE_WITH")
    )

    # --- timers: NCRONTAB schedules (six fields, UTC); roll overrides (shared/domain/rolls.py) --
    contract_refresh_schedule: str = Field(
        "0 */15 * * * *", pattern=_NCRONTAB, validation_alias=_env("CONTRACT_REFRESH_SCHEDULE")
    )
    token_refresh_schedule: str = Field(
        "0 */5 * * * *", pattern=_NCRONTAB, validation_alias=_env("TOKEN_REFRESH_SCHEDULE")
    )
    reconcile_schedule: str = Field(
        "30 */5 * * * *", pattern=_NCRONTAB, validation_alias=_env("RECONCILE_SCHEDULE")
    )
    ledger_mirror_schedule: str = Field(
        "15 * * * * *", pattern=_NCRONTAB, validation_alias=_env("LEDGER_MIRROR_SCHEDULE")
    )
    # Report each new dead letter of the signals queue once on queue.dead_lettered (ops_dlq.py).
    dlq_watch_schedule: str = Field(
        "*/30 * * * * *", pattern=_NCRONTAB, validation_alias=_env("DLQ_WATCH_SCHEDULE")
    )
    contract_roll_overrides: str = Field("", validation_alias=_env("CONTRACT_ROLL_OVERRIDES"))

    @field_validator("contract_roll_overrides")
    @classmethod
    def _roll_overrides(cls, value: str) -> str:
        parse_roll_overrides(value)  # raises ValueError naming the bad entry
        return value

    @property
    def roll_overrides(self) -> dict[str, RollPolicy]:
        """Return the roll-policy overrides by root."""
        return parse_roll_overrides(self.contract_roll_overrides)

    # --- strategies and behaviour ----------------------------------------------------------------
    # A relative path is taken from the app root (the folder holding function_app.py), never
    # from the working directory, which neither the Functions host nor App Service promises.
    strategies_file: str = Field(
        "strategies.toml", validation_alias=_env("STRATEGIES_FILE", "strategies_file")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("LOG_LEVEL", "log_level")
    )
    # true: refuse to start against Tradovate's live environment (docs/going-live.md).
    paper: StrictFlag = Field(True, validation_alias=_env("PAPER", "paper"))

    # --- notifications (shared/services/notify, docs/notifications.md) ---------------------------
    # The chat webhook (a secret: the URL grants posting) and its body format; Telegram needs
    # the chat to post in.
    notify_webhook_url: SecretStr | None = Field(None, validation_alias=_env("NOTIFY_WEBHOOK_URL"))
    notify_webhook_format: Literal["auto", "json", "discord", "slack", "telegram"] = Field(
        "auto", validation_alias=_env("NOTIFY_WEBHOOK_FORMAT")
    )
    notify_telegram_chat_id: str = Field("", validation_alias=_env("NOTIFY_TELEGRAM_CHAT_ID"))
    # E-mail: recipients (comma-separated), sender, and the transport: ACS with the managed
    # identity (endpoint), ACS with a key (connection string, local), or SMTP.
    notify_email_to: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=_env("NOTIFY_EMAIL_TO")
    )
    notify_email_from: str = Field("", validation_alias=_env("NOTIFY_EMAIL_FROM"))
    notify_acs_endpoint: str = Field("", validation_alias=_env("NOTIFY_ACS_ENDPOINT"))
    notify_acs_connection_string: SecretStr | None = Field(
        None, validation_alias=_env("NOTIFY_ACS_CONNECTION_STRING")
    )
    smtp_host: str = Field("", validation_alias=_env("SMTP_HOST"))
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias=_env("SMTP_PORT"))
    smtp_username: str = Field("", validation_alias=_env("SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("SMTP_PASSWORD"))
    smtp_starttls: StrictFlag = Field(True, validation_alias=_env("SMTP_STARTTLS"))
    # What is sent: "all" or a comma-separated list of kinds, and the least severity per channel.
    notify_kinds: str = Field("all", validation_alias=_env("NOTIFY_KINDS"))
    notify_min_severity: Literal["info", "warning", "critical"] = Field(
        "info", validation_alias=_env("NOTIFY_MIN_SEVERITY")
    )
    notify_email_min_severity: Literal["info", "warning", "critical"] = Field(
        "critical", validation_alias=_env("NOTIFY_EMAIL_MIN_SEVERITY")
    )
    # The same notification (kind + subject) once per NOTIFY_DEDUPE_S (0 = off); at most
    # NOTIFY_RATE_LIMIT messages per channel per NOTIFY_RATE_WINDOW_S, the rest in one summary.
    notify_dedupe_s: int = Field(900, ge=0, le=86_400, validation_alias=_env("NOTIFY_DEDUPE_S"))
    notify_rate_limit: int = Field(10, ge=1, le=1000, validation_alias=_env("NOTIFY_RATE_LIMIT"))
    notify_rate_window_s: int = Field(
        60, ge=1, le=3600, validation_alias=_env("NOTIFY_RATE_WINDOW_S")
    )
    # Timers: drain the feed (the worker also does, within a second) and watch the worker.
    notify_schedule: str = Field(
        "*/15 * * * * *", pattern=_NCRONTAB, validation_alias=_env("NOTIFY_SCHEDULE")
    )
    watchdog_schedule: str = Field(
        "*/30 * * * * *", pattern=_NCRONTAB, validation_alias=_env("WATCHDOG_SCHEDULE")
    )
    # Alert when the worker's heartbeat is this old (0 = no worker expected: the lean
    # deployment) and when its trading socket has not been live this long.
    worker_stale_s: int = Field(120, ge=0, le=86_400, validation_alias=_env("WORKER_STALE_S"))
    socket_down_s: int = Field(60, ge=1, le=86_400, validation_alias=_env("SOCKET_DOWN_S"))

    @field_validator(
        "notify_webhook_url", "notify_acs_connection_string", "smtp_password", mode="before"
    )
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        """Read an empty secret setting (the IaC's value when it is not used) as unset."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("notify_email_to", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("notify_kinds")
    @classmethod
    def _known_kinds(cls, value: str) -> str:
        from shared.services.notify.policy import parse_kinds

        parse_kinds(value)  # raises ValueError naming the unknown kind
        return value

    @model_validator(mode="before")
    @classmethod
    def _refuse_unresolved_references(cls, data: Any) -> Any:
        """Refuse a Key Vault reference the platform could not resolve (it arrives as text)."""
        if isinstance(data, dict):
            unresolved = sorted(
                str(name) for name, value in data.items() if is_unresolved_reference(value)
            )
            if unresolved:
                # Its own error type carries the names to load_settings, not a message to parse.
                raise PydanticCustomError(
                    _UNRESOLVED,
                    "unresolved Key Vault reference in {names}",
                    {"names": ", ".join(unresolved)},
                )
        return data

    @model_validator(mode="after")
    def _paper_refuses_live(self) -> Settings:
        """Refuse a live Tradovate environment while ``PAPER`` is true (the default)."""
        if self.paper and is_live_tradovate_url(self.tradovate_base_url):
            # Its own error type, so load_settings reports it with its own code.
            raise PydanticCustomError(
                PAPER_LIVE_ENVIRONMENT,
                "PAPER=true refuses to start: TRADOVATE_BASE_URL {url} is Tradovate's live "
                "environment, which trades a real, funded account. Use "
                "https://demo.tradovateapi.com/v1 (or the local simulator) to paper trade, or "
                "set PAPER=false to go live deliberately (docs/going-live.md)",
                {"url": self.tradovate_base_url},
            )
        return self

    @model_validator(mode="after")
    def _one_servicebus_connection(self) -> Settings:
        """Refuse a connection string beside the namespace: the trigger would use the string.

        The Functions host reads a plain ``ServiceBusConnection`` value as a connection string
        and the ``__fullyQualifiedNamespace`` form only when there is none, and the namespace
        has SAS keys off (learn.microsoft.com/azure/azure-functions/functions-reference
        #configure-an-identity-based-connection).
        """
        if self.servicebus_namespace and self.servicebus_connection_string is not None:
            raise ValueError(
                "set ServiceBusConnection__fullyQualifiedNamespace or ServiceBusConnection, "
                "not both"
            )
        return self

    @model_validator(mode="after")
    def _retry_backoff_fits_function_timeout(self) -> Settings:
        """Refuse a back-off whose waits could outlast one run of the function.

        The waits happen inside the function, once per failed delivery but the last, so the
        longest of them (the cap) times ``queue_max_delivery_count - 1`` must stay under
        host.json ``functionTimeout``; a timed-out run is not abandoned but left to its lock.
        """
        if self.queue_retry_backoff_base_s > self.queue_retry_backoff_max_s:
            raise ValueError("QUEUE_RETRY_BACKOFF_BASE_S must not exceed QUEUE_RETRY_BACKOFF_MAX_S")
        worst_s = self.queue_retry_backoff_max_s * (self.queue_max_delivery_count - 1)
        if worst_s >= FUNCTION_TIMEOUT_S:
            raise ValueError(
                f"QUEUE_RETRY_BACKOFF_MAX_S x (QUEUE_MAX_DELIVERY_COUNT - 1) = {worst_s:g} s "
                f"must stay under the {FUNCTION_TIMEOUT_S:g} s functionTimeout of host.json; "
                "lower the back-off cap or the delivery count"
            )
        return self

    @property
    def strategies_path(self) -> Path:
        """Return the strategy file's path, a relative one resolved from the app root."""
        path = Path(self.strategies_file)
        return path if path.is_absolute() else APP_ROOT / path

    @property
    def redis_identity_client_id(self) -> str | None:
        """Return the client id of the identity that signs in to Redis, if one is named."""
        return self.redis_client_id or self.azure_client_id

    @property
    def tradovate_ws_url(self) -> str:
        """Return the trading WebSocket URL: the REST base with wss and /websocket."""
        base = self.tradovate_base_url.rstrip("/")
        scheme, _, rest = base.partition("://")
        ws_scheme = "wss" if scheme == "https" else "ws"
        return f"{ws_scheme}://{rest}/websocket"

    def require_servicebus(self) -> None:
        """Raise ``ConfigError`` unless the Service Bus backend has a namespace or connection."""
        if self.servicebus_namespace is None and self.servicebus_connection_string is None:
            raise ConfigError(
                "missing setting: ServiceBusConnection__fullyQualifiedNamespace "
                "(or ServiceBusConnection for a connection string)",
                code="missing_setting",
            )

    def require_tables(self) -> None:
        """Raise ``ConfigError`` unless Table storage has a service URI or connection string."""
        if self.tables_service_uri is None and self.tables_connection_string is None:
            raise ConfigError(
                "missing setting: TablesConnection__serviceUri "
                "(or TablesConnection for a connection string)",
                code="missing_setting",
            )


def _alias_of(loc: tuple[int | str, ...]) -> str:
    field_name = str(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field_name)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        return first if isinstance(first, str) else field_name
    return field_name


def load_settings(**overrides: Any) -> Settings:
    """Build ``Settings`` from the environment, or raise ``ConfigError`` naming each problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        paper = _paper_refusal(exc)
        if paper is not None:
            raise ConfigError(paper, code=PAPER_LIVE_ENVIRONMENT) from None
        unresolved = _unresolved_names(exc)
        if unresolved:
            raise ConfigError(
                f"setting(s) {unresolved} still hold a Key Vault reference the platform could "
                "not resolve: store the secret in Key Vault (and check the app's identity may "
                "read it), then restart the app",
                code=_UNRESOLVED,
            ) from None
        missing = [_alias_of(e["loc"]) for e in exc.errors() if e["type"] == "missing"]
        invalid = [
            f"{_alias_of(e['loc'])} ({e['msg']})" if e["loc"] else _plain(e["msg"])
            for e in exc.errors()
            if e["type"] != "missing"
        ]
        parts = []
        if missing:
            parts.append("missing setting(s): " + ", ".join(missing))
        if invalid:
            parts.append("invalid setting(s): " + ", ".join(invalid))
        raise ConfigError("; ".join(parts), code="invalid_settings") from None


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")


def _paper_refusal(exc: ValidationError) -> str | None:
    for error in exc.errors():
        if error["type"] == PAPER_LIVE_ENVIRONMENT:
            return str(error["msg"])
    return None


def _unresolved_names(exc: ValidationError) -> str | None:
    for error in exc.errors():
        if error["type"] == _UNRESOLVED:
            return str(error.get("ctx", {}).get("names", ""))
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return this process's settings, read once."""
    return load_settings()


def strip_json_comments(text: str) -> str:
    """Remove ``//`` and ``/* */`` comments outside strings (Core Tools accept them too)."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def read_local_settings(path: Path) -> dict[str, str]:
    """Return the ``Values`` of a ``local.settings.json`` file (comments allowed) as strings."""
    try:
        document = json.loads(strip_json_comments(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist", code="missing_local_settings") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON: {exc}", code="invalid_local_settings"
        ) from None
    values = document.get("Values", {}) if isinstance(document, dict) else {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: Values must be an object", code="invalid_local_settings")
    return {str(k): str(v) for k, v in values.items()}
