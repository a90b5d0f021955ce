"""Import name → PyPI distribution name, for the names where the two differ.

Python imports a *module* (``import yaml``) but pip installs a *distribution* (``PyYAML``). For
most projects the two are spelled alike, but a long tail is not, and a fix that adds the import
name to ``requirements.txt`` (``yaml``, ``cv2``, ``sklearn``) installs nothing or a squatted
package. The table below lists, for each import name, the distributions that provide it, the
canonical one first (the one to add); the others count as "already declared" (for example
``opencv-python-headless`` also provides ``cv2``).

Sources: each project's own install instructions on PyPI; the mapping used by pipreqs
(``pipreqs/mapping``) was cross-checked for the entries it shares. Dotted keys
(``google.protobuf``) are matched on the longest dotted prefix of the missing module, so
``google.protobuf.json_format`` → ``protobuf`` while a bare ``google`` stays unknown.
"""

from __future__ import annotations

import re

IMPORT_TO_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    # data formats and parsing
    "yaml": ("PyYAML",),
    "ruamel": ("ruamel.yaml",),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "dotenv": ("python-dotenv",),
    "docx": ("python-docx",),
    "pptx": ("python-pptx",),
    "fitz": ("PyMuPDF",),
    "PyPDF2": ("PyPDF2",),
    "magic": ("python-magic",),
    "multipart": ("python-multipart",),
    "slugify": ("python-slugify",),
    "jose": ("python-jose",),
    "Levenshtein": ("python-Levenshtein", "Levenshtein"),
    "markdown": ("Markdown",),
    "toml": ("toml",),
    "tomli_w": ("tomli-w",),
    # images, science, ML
    "cv2": (
        "opencv-python",
        "opencv-python-headless",
        "opencv-contrib-python",
        "opencv-contrib-python-headless",
    ),
    "PIL": ("Pillow", "PIL"),
    "sklearn": ("scikit-learn",),
    "skimage": ("scikit-image",),
    "Bio": ("biopython",),
    "mpl_toolkits": ("matplotlib",),
    "tables": ("tables",),
    "torchvision": ("torchvision",),
    "faiss": ("faiss-cpu", "faiss-gpu"),
    "igraph": ("igraph", "python-igraph"),
    "umap": ("umap-learn",),
    "sentence_transformers": ("sentence-transformers",),
    # crypto, auth, network
    "Crypto": ("pycryptodome", "pycrypto"),
    "Cryptodome": ("pycryptodomex",),
    "OpenSSL": ("pyOpenSSL",),
    "jwt": ("PyJWT",),
    "nacl": ("PyNaCl",),
    "socks": ("PySocks",),
    "dns": ("dnspython",),
    "ldap": ("python-ldap",),
    "zmq": ("pyzmq",),
    "websocket": ("websocket-client",),
    "telegram": ("python-telegram-bot",),
    "discord": ("discord.py",),
    "github": ("PyGithub",),
    "gitlab": ("python-gitlab",),
    "jenkins": ("python-jenkins",),
    "git": ("GitPython",),
    "hglib": ("python-hglib",),
    # databases and services
    "psycopg2": ("psycopg2", "psycopg2-binary"),
    "MySQLdb": ("mysqlclient",),
    "pymysql": ("PyMySQL",),
    "mysql": ("mysql-connector-python",),
    "sqlalchemy": ("SQLAlchemy",),
    "memcache": ("python-memcached",),
    "ibm_db": ("ibm-db",),
    "kafka": ("kafka-python",),
    "confluent_kafka": ("confluent-kafka",),
    "elasticsearch": ("elasticsearch",),
    "google.protobuf": ("protobuf",),
    "google.cloud.storage": ("google-cloud-storage",),
    "google.cloud.bigquery": ("google-cloud-bigquery",),
    "google.auth": ("google-auth",),
    "google.oauth2": ("google-auth",),
    "googleapiclient": ("google-api-python-client",),
    "grpc": ("grpcio",),
    "azure.storage.blob": ("azure-storage-blob",),
    "azure.identity": ("azure-identity",),
    # hardware, OS, system
    "serial": ("pyserial",),
    "usb": ("pyusb",),
    "win32api": ("pywin32",),
    "win32com": ("pywin32",),
    "pythoncom": ("pywin32",),
    "gi": ("PyGObject",),
    "wx": ("wxPython",),
    "Xlib": ("python-xlib",),
    "cairo": ("pycairo",),
    "apt": ("python-apt",),
    "pkg_resources": ("setuptools",),
    "setuptools": ("setuptools",),
    "attr": ("attrs",),
    "attrs": ("attrs",),
    "lxml": ("lxml",),
    "zope": ("zope.interface",),
    "editor": ("python-editor",),
    "pytest_asyncio": ("pytest-asyncio",),
    "pytest_cov": ("pytest-cov",),
    "pytest_mock": ("pytest-mock",),
    "xdist": ("pytest-xdist",),
    "typing_extensions": ("typing-extensions", "typing_extensions"),
    "importlib_metadata": ("importlib-metadata",),
    "importlib_resources": ("importlib-resources",),
    "flask_sqlalchemy": ("Flask-SQLAlchemy",),
    "flask_cors": ("Flask-Cors",),
    "flask_login": ("Flask-Login",),
    "flask_wtf": ("Flask-WTF",),
    "rest_framework": ("djangorestframework",),
    "corsheaders": ("django-cors-headers",),
    "debug_toolbar": ("django-debug-toolbar",),
    "environ": ("django-environ",),
    "jinja2": ("Jinja2",),
    "markupsafe": ("MarkupSafe",),
    "simplejson": ("simplejson",),
    "six": ("six",),
}
"""Import name (or dotted prefix) → distributions that provide it, canonical first."""

KNOWN_SAME_NAME: frozenset[str] = frozenset(
    [
        "aiohttp",
        "alembic",
        "anyio",
        "arrow",
        "asyncpg",
        "babel",
        "bcrypt",
        "black",
        "boto3",
        "botocore",
        "cachetools",
        "celery",
        "certifi",
        "cffi",
        "chardet",
        "click",
        "colorama",
        "coverage",
        "cryptography",
        "cython",
        "dask",
        "django",
        "docutils",
        "fastapi",
        "filelock",
        "flake8",
        "flask",
        "freezegun",
        "gevent",
        "greenlet",
        "gunicorn",
        "h5py",
        "httpx",
        "hypothesis",
        "idna",
        "isort",
        "jsonschema",
        "keras",
        "kombu",
        "matplotlib",
        "mock",
        "more_itertools",
        "msgpack",
        "mypy",
        "nltk",
        "networkx",
        "nose",
        "numba",
        "numpy",
        "openai",
        "openpyxl",
        "orjson",
        "packaging",
        "pandas",
        "paramiko",
        "pexpect",
        "pika",
        "platformdirs",
        "pluggy",
        "polars",
        "psutil",
        "pyarrow",
        "pydantic",
        "pygments",
        "pylint",
        "pymongo",
        "pyparsing",
        "pytest",
        "pytz",
        "redis",
        "regex",
        "requests",
        "responses",
        "rich",
        "scipy",
        "scrapy",
        "seaborn",
        "selenium",
        "sentry_sdk",
        "shapely",
        "simplejson",
        "six",
        "sphinx",
        "sqlparse",
        "starlette",
        "statsmodels",
        "sympy",
        "tabulate",
        "tenacity",
        "tensorflow",
        "toolz",
        "torch",
        "tornado",
        "tqdm",
        "transformers",
        "twisted",
        "typer",
        "ujson",
        "urllib3",
        "uvicorn",
        "virtualenv",
        "werkzeug",
        "wheel",
        "xlrd",
        "xmltodict",
        "yarl",
    ]
)
"""Import names whose PyPI distribution is spelled the same (a patch for them is certain)."""

PYTHON2_ONLY_MODULES: frozenset[str] = frozenset(
    [
        "ConfigParser",
        "Queue",
        "SocketServer",
        "StringIO",
        "Tkinter",
        "UserDict",
        "UserList",
        "UserString",
        "__builtin__",
        "anydbm",
        "commands",
        "cPickle",
        "cStringIO",
        "cookielib",
        "copy_reg",
        "dbhash",
        "dummy_thread",
        "exceptions",
        "htmlentitydefs",
        "httplib",
        "md5",
        "mimetools",
        "new",
        "robotparser",
        "sets",
        "sha",
        "thread",
        "urllib2",
        "urlparse",
        "xmlrpclib",
        "HTMLParser",
        "BaseHTTPServer",
        "SimpleHTTPServer",
        "CGIHTTPServer",
        "Cookie",
    ]
)
"""Python 2 standard-library modules renamed or removed in Python 3 (never a PyPI dependency)."""

REMOVED_FROM_STDLIB: dict[str, str] = {
    **dict.fromkeys(("distutils", "imp", "asynchat", "asyncore", "smtpd"), "3.12"),
    **dict.fromkeys(
        [
            "aifc",
            "audioop",
            "cgi",
            "cgitb",
            "chunk",
            "crypt",
            "imghdr",
            "lib2to3",
            "mailcap",
            "msilib",
            "nis",
            "nntplib",
            "ossaudiodev",
            "pipes",
            "sndhdr",
            "spwd",
            "sunau",
            "telnetlib",
            "uu",
            "xdrlib",
        ],
        "3.13",
    ),
}
"""Standard-library modules removed by PEP 594 / PEP 632 → first Python version without them."""

NAMESPACE_ONLY: frozenset[str] = frozenset(
    {"google", "azure", "zope", "backports", "jaraco", "sphinxcontrib"}
)
"""Namespace packages shared by many distributions: the bare name says nothing about which one."""

_NORMALISE = re.compile(r"[-_.]+")


def normalise(distribution: str) -> str:
    """PEP 503 normalised form of a distribution name (``Foo_Bar.baz`` → ``foo-bar-baz``)."""
    return _NORMALISE.sub("-", distribution).lower()


def distribution_candidates(module: str) -> tuple[str, ...]:
    """Distributions that provide the dotted ``module``, canonical first.

    The longest dotted prefix found in :data:`IMPORT_TO_DISTRIBUTIONS` wins; an unmapped module
    gives its top-level name (pip treats ``_``/``-``/``.`` alike, so ``typing_extensions`` works).
    Returns an empty tuple for an empty name.
    """
    parts = [p for p in module.strip().split(".") if p]
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in IMPORT_TO_DISTRIBUTIONS:
            return IMPORT_TO_DISTRIBUTIONS[key]
    return (parts[0],) if parts else ()


def is_known(module: str) -> bool:
    """True when the distribution for ``module`` is certain: mapped, or a known same-name package."""
    parts = [p for p in module.strip().split(".") if p]
    if not parts:
        return False
    if any(".".join(parts[:n]) in IMPORT_TO_DISTRIBUTIONS for n in range(len(parts), 0, -1)):
        return True
    return parts[0] in KNOWN_SAME_NAME
