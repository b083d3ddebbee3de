"""`find_credentials(text) -> list[str]`: the secret values in a text, for skipping and redacting.

Credentials are found by their format or after a keyword, the value itself returned (a key's
whole block, not its first line; the `sk-…` of `OPENAI_API_KEY=sk-…`); ordinary code and docs
that name, template or describe a credential hold none.
"""

from __future__ import annotations

import time

import pytest

from knowledge.credentials import find_credentials

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nQUJDREVG\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"notes\n{PEM}\nmore notes\n", PEM),
        ("OPENAI_API_KEY=sk-proj-WorkspaceSecretQwErTy98765zz\n", "sk-proj-WorkspaceSecretQwErTy98765zz"),
        ("export HF_TOKEN=hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345\n", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"),
        ("aws_access_key_id = AKIAZ3MSJ7QK2LWXP4BD\n", "AKIAZ3MSJ7QK2LWXP4BD"),
        ("token: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
        ("stripe.api_key = 'sk_live_abcdefghijklmnopqrstuvwx'\n", "sk_live_abcdefghijklmnopqrstuvwx"),
        ('db_password = "s3cr3tPassw0rd!"\n', "s3cr3tPassw0rd!"),
        ("database:\n  password: Tr0ub4dor3x\n", "Tr0ub4dor3x"),
        ("URL = 'postgres://admin:Zq8xW2vLp@db.internal:5432/prod'\n", "Zq8xW2vLp"),
    ],
)
def test_a_credential_is_found_as_the_value_to_redact(text: str, secret: str) -> None:
    found = find_credentials(text)
    assert found == [secret]
    assert secret in text


HF = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
ANTHROPIC = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij-AAAA"
OPENAI_PROJECT = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijABCDEFG"
OPENAI_PLAIN = "sk-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghij"
GOOGLE = "AIzaSyD3x4mpleKey0123456789abcdefghijkL"
BEARER = "abcDEF1234567890ghiJKL"
SA_KEY_ID = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f'from huggingface_hub import login\nlogin("{HF}")\n', HF),
        (f'client = anthropic.Anthropic(api_key="{ANTHROPIC}")\n', ANTHROPIC),
        (f'CLIENT = "{ANTHROPIC}"\n', ANTHROPIC),
        (f'c = OpenAI("{OPENAI_PROJECT}")\n', OPENAI_PROJECT),
        (f"openai.Completion.create(..., headers={{'k': '{OPENAI_PLAIN}'}})\n", OPENAI_PLAIN),
        (f'URL = "https://maps.googleapis.com/maps/api/geocode/json?k={GOOGLE}"\n', GOOGLE),
        (f'curl -H "Authorization: Bearer {BEARER}" https://api.example.org/v1\n', BEARER),
        (f'requests.get(url, headers={{"Authorization": "Bearer {BEARER}"}})\n', BEARER),
        (f'{{\n  "type": "service_account",\n  "private_key_id": "{SA_KEY_ID}",\n}}\n', SA_KEY_ID),
    ],
)
def test_a_token_without_a_keyword_is_found_by_its_format(text: str, secret: str) -> None:
    """Tokens detect-secrets' plugins do not know, where no keyword announces them."""
    assert find_credentials(text) == [secret]


@pytest.mark.parametrize(
    "text",
    [
        "from huggingface_hub import hf_hub_download\npath = hf_hub_download(repo_id, 'config.json')\n",
        "hf_HubDownloadWithRetriesAndCachingForEveryModelFile = None\n",
        "pip install sk-learn-compatible-estimators\nsk-proj-settings-page-for-your-organisation\n",
        'curl -H "Authorization: Bearer $TOKEN"\nheaders = {"Authorization": f"Bearer {token}"}\n',
        "Authorization: Bearer <your-access-token>\nAuthorization: Bearer YOUR_ACCESS_TOKEN_HERE_123\n",
        "Send the key as a bearer token in the Authorization header (OAuth 2.0 bearer authentication).\n",
        'OPENAI_API_KEY = "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"\n',
        '{"type": "service_account", "private_key_id": "<the key id>"}\n',
    ],
)
def test_names_and_placeholders_shaped_like_tokens_are_none(text: str) -> None:
    assert find_credentials(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "password = get_password()\napi_key = os.environ['OPENAI_API_KEY']\n",
        "token = tokenizer.encode(text)\npad_token = tokenizer.eos_token\n",
        "class Login:\n    password: str\n    token: str | None = None\n",
        'api_key_env = "OPENAI_API_KEY"  # the key is read from this variable\n',
        "api_key: ${OPENAI_API_KEY}\nOPENAI_API_KEY=your-api-key-here\nOPENAI_API_KEY=<your key>\n",
        "Set `OPENAI_API_KEY` to your key.\nPassword: see the vault\n",
        "sha = 'd41d8cd98f00b204e9800998ecf8427e'\nrun_id = 550e8400-e29b-41d4-a716-446655440000\n",
        "max_tokens: 4096\ntokenizer: bert-base-uncased\nentity_token=entity_mask2_token,\n",
        "The AWS docs' example key, AKIAIOSFODNN7EXAMPLE, is no key.\n",
        "engine = create_engine('postgres://user:password@localhost/db')\n",
        "",
    ],
)
def test_code_and_docs_about_credentials_hold_none(text: str) -> None:
    assert find_credentials(text) == []


def test_each_credential_once_in_the_order_found() -> None:
    text = f"A=1\ntoken: ghp_{'a' * 36}\n{PEM}\nagain ghp_{'a' * 36}\n"
    assert find_credentials(text) == [PEM, f"ghp_{'a' * 36}"]


def _seconds(text: str) -> float:
    """The best of three scans of `text` (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        assert find_credentials(text) == []
        times.append(time.perf_counter() - started)
    return min(times)


def _grows_linearly(unit: str, small: int) -> None:
    """Ten times the text takes about ten times as long, not a hundred (a pattern that backtracks
    over the whole text): judged against the same scan's own smaller run, not a wall-clock limit,
    which a loaded machine misses (the 2 MB scan took 4.2-5.6 s against a 5 s limit in one session)."""
    ratio = _seconds(unit * (10 * small)) / max(_seconds(unit * small), 1e-4)
    assert ratio < 30, f"10x the text took {ratio:.0f}x as long"


def test_a_large_file_without_credentials_is_scanned_in_linear_time() -> None:
    """Every ingested file is scanned: 2 MB (the size cap) of code, ten times 200 KB's time."""
    line = "def step(model, batch, key_fn, password_hint=None):  # token count per batch\n"
    _grows_linearly(line, 200_000 // len(line))


SHADOW_HASH = (
    "$6$Zq8xW2vL$Qm3Hk0c9yJtN1rWb7uVx2sLpE4fGhIjKlMnOpQrStUvWxYz0123456789abcdefghijABCDEFGHIJ.KLMN/op"
)
KUBE_KEY = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpub3QtYS1yZWFsLWtleQo="


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("db.example.com:5432:prod:admin:Pg-s3cret-Word\n", "Pg-s3cret-Word"),  # ~/.pgpass
        ("*:*:*:replicator:correcthorsebattery\n", "correcthorsebattery"),  # letters alone count here
        (
            '{"auths": {"registry.example.com": {"auth": "Ym9iOmRvY2tlci1zZWNyZXQ="}}}\n',
            "Ym9iOmRvY2tlci1zZWNyZXQ=",
        ),
        ("machine api.example.com login bob password Hu7-netrc-Secret\n", "Hu7-netrc-Secret"),  # ~/.netrc
        ("machine api.example.com\n  login bob\n  password hunterhunter\n", "hunterhunter"),
        (f"users:\n- name: admin\n  user:\n    client-key-data: {KUBE_KEY}\n", KUBE_KEY),  # ~/.kube/config
        ("users:\n- name: ci\n  user:\n    token: abcdef.0123456789abcdef\n", "abcdef.0123456789abcdef"),
        ("ls\nmysql -u root -pMy-mysql-pw prod\n", "My-mysql-pw"),  # a shell history
        ("sshpass -pSshSecretWord ssh deploy@host\n", "SshSecretWord"),
        ("mysqldump --password=DumpSecret db > db.sql\n", "DumpSecret"),
        ("PGPASSWORD=pgsecretword psql -h db -U admin\n", "pgsecretword"),
        (f"root:{SHADOW_HASH}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n", SHADOW_HASH),  # /etc/shadow
    ],
)
def test_a_login_file_or_history_line_is_found(text: str, secret: str) -> None:
    """The formats of `.pgpass`, docker's config, `.netrc`, a kubeconfig, a shell history and
    `/etc/shadow`: a task file once had them ingested and quoted to the LLM's endpoint."""
    assert find_credentials(text) == [secret]


@pytest.mark.parametrize(
    "text",
    [
        "x = a[1:2:3]\nurl: http://host:8080/a:b:c\nat 12:30:45:00:01\n",
        "*:*:*:admin:<password>\nlocalhost:5432:db:user:*\n",
        '{"auth": "aGVsbG8gd29ybGQ="}\n',  # base64 of no user:password
        "the default password is set below\nmachine learning password protection\n",
        "mkdir -p build\nmysql -u root -p prod\nmysql -p$MYSQL_PASSWORD\nssh -p 2222 host\n",
        "mysql --password -h db\ndocker login --password-stdin\nPGPASSWORD=$PW psql\n",
        "daemon:*:19000:0:99999:7:::\nnobody:!:19000::::::\n",
    ],
)
def test_text_shaped_like_a_login_file_without_a_secret_holds_none(text: str) -> None:
    assert find_credentials(text) == []


def test_a_long_line_of_command_names_is_scanned_in_linear_time() -> None:
    """A history's `mysql … -p…` may not make the scan of one long line quadratic (25 s for 120 KB once)."""
    _grows_linearly("mysql ", 5_000)
