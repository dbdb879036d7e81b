//! The schema of the top-level keys strap checks, written from cloud-init's
//! cloud-config schema (`schema-cloud-config-v1.json`): one definition per key, in the
//! module that reads it.

use super::eval::{Extra, Lit, Ty, S};

const STR: S = S::Type(&[Ty::Str]);
const BOOL: S = S::Type(&[Ty::Bool]);
const INT: S = S::Type(&[Ty::Int]);
const NULL: S = S::Type(&[Ty::Null]);
const ARRAY: S = S::Type(&[Ty::Array]);
const OBJECT: S = S::Type(&[Ty::Object]);

const fn array(items: &'static S, min: usize) -> S {
    S::Array {
        items,
        min,
        max: None,
        unique: false,
    }
}

const fn object(props: &'static [(&'static str, S)], required: &'static [&'static str]) -> S {
    S::Object {
        props,
        required,
        extra: Extra::Deny,
        min_props: 0,
    }
}

const STRINGS: S = array(&STR, 0);
const STRINGS_NONEMPTY: S = array(&STR, 1);

/// `bootcmd` / `runcmd` items: a shell line, or an argv list (runcmd also allows null).
const COMMAND: S = S::OneOf(&[array(&STR, 0), STR]);
const COMMAND_OR_NULL: S = S::OneOf(&[array(&STR, 0), STR, NULL]);

pub(crate) const BOOTCMD: S = array(&COMMAND, 1);
pub(crate) const RUNCMD: S = array(&COMMAND_OR_NULL, 1);

const ENCODINGS: &[Lit] = &[
    Lit::Str("gz"),
    Lit::Str("gzip"),
    Lit::Str("gz+base64"),
    Lit::Str("gzip+base64"),
    Lit::Str("gz+b64"),
    Lit::Str("gzip+b64"),
    Lit::Str("b64"),
    Lit::Str("base64"),
    Lit::Str("text/plain"),
];

const WRITE_FILE: S = object(
    &[
        ("path", STR),
        ("content", STR),
        (
            "source",
            object(
                &[
                    ("uri", STR),
                    (
                        "headers",
                        S::Object {
                            props: &[],
                            required: &[],
                            extra: Extra::Each(&STR),
                            min_props: 0,
                        },
                    ),
                ],
                &["uri"],
            ),
        ),
        ("owner", STR),
        ("permissions", STR),
        ("encoding", S::All(&[STR, S::Enum(ENCODINGS)])),
        ("append", BOOL),
        ("defer", BOOL),
    ],
    &["path"],
);

pub(crate) const WRITE_FILES: S = array(&WRITE_FILE, 1);

const USER_GROUPS: S = S::OneOf(&[
    STR,
    STRINGS_NONEMPTY,
    S::Deprecated(
        &S::Object {
            props: &[],
            required: &[],
            extra: Extra::Each(&NULL),
            min_props: 0,
        },
        "Use a list of group names.",
    ),
]);

const SUDO: S = S::OneOf(&[
    S::Type(&[Ty::Str, Ty::Null]),
    array(&S::Type(&[Ty::Str, Ty::Null]), 0),
    S::Deprecated(&BOOL, "Use null or no sudo key instead of false."),
]);

const UID: S = S::OneOf(&[INT, S::Deprecated(&STR, "Use an integer uid.")]);

const fn hyphenated(inner: &'static S) -> S {
    S::Deprecated(inner, "Use the key spelled with '_' instead of '-'.")
}

/// A user entry of `users` (and the legacy `user`).
const USER_PROPS: &[(&str, S)] = &[
    ("name", STR),
    ("doas", STRINGS_NONEMPTY),
    ("expiredate", S::All(&[STR, S::Format(is_iso_date, "date")])),
    ("gecos", STR),
    ("groups", USER_GROUPS),
    ("homedir", STR),
    ("inactive", STR),
    ("lock_passwd", BOOL),
    ("lock-passwd", hyphenated(&BOOL)),
    ("no_create_home", BOOL),
    ("no-create-home", hyphenated(&BOOL)),
    ("no_log_init", BOOL),
    ("no-log-init", hyphenated(&BOOL)),
    ("no_user_group", BOOL),
    ("no-user-group", hyphenated(&BOOL)),
    ("passwd", STR),
    ("hashed_passwd", STR),
    ("hashed-passwd", hyphenated(&STR)),
    ("plain_text_passwd", STR),
    ("plain-text-passwd", hyphenated(&STR)),
    ("create_groups", BOOL),
    ("create-groups", hyphenated(&BOOL)),
    ("primary_group", STR),
    ("primary-group", hyphenated(&STR)),
    ("selinux_user", STR),
    ("selinux-user", hyphenated(&STR)),
    ("shell", STR),
    ("snapuser", STR),
    ("ssh_authorized_keys", STRINGS_NONEMPTY),
    ("ssh-authorized-keys", hyphenated(&STRINGS_NONEMPTY)),
    ("ssh_import_id", STRINGS_NONEMPTY),
    ("ssh-import-id", hyphenated(&STRINGS_NONEMPTY)),
    ("ssh_redirect_user", BOOL),
    ("ssh-redirect-user", hyphenated(&BOOL)),
    ("system", BOOL),
    ("sudo", SUDO),
    ("uid", UID),
];

/// `users_groups.user`: its properties, and `oneOf` `required: [name]` / `required:
/// [snapuser]` (an entry names exactly one of them).
const USER: S = S::All(&[
    object(USER_PROPS, &[]),
    S::OneOf(&[
        S::Shown(
            &S::Only(Ty::Object, &object_requiring(&["name"])),
            "{'required': ['name']}",
        ),
        S::Shown(
            &S::Only(Ty::Object, &object_requiring(&["snapuser"])),
            "{'required': ['snapuser']}",
        ),
    ]),
]);

const fn object_requiring(required: &'static [&'static str]) -> S {
    S::Object {
        props: &[],
        required,
        extra: Extra::Allow,
        min_props: 0,
    }
}

/// jsonschema's `date` format as the Python that runs cloud-init checks it
/// (`datetime.date.fromisoformat` of Python 3.11): ASCII `YYYY-MM-DD` or `YYYYMMDD`, or
/// an ISO week date `YYYY-Www[-D]` / `YYYYWww[D]`.
pub(crate) fn is_iso_date(s: &str) -> bool {
    fn num(s: &str) -> Option<u32> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }
    if !s.is_ascii() || s.len() < 7 {
        return false;
    }
    let (year, rest) = s.split_at(4);
    let Some(year) = num(year).filter(|y| *y >= 1) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let dashed = rest.starts_with('-');
    let rest = if dashed { &rest[1..] } else { rest };
    if let Some(week) = rest.strip_prefix('W') {
        let (w, day) = match (dashed, week.len()) {
            (_, 2) => (week, None),
            (true, 4) if week.as_bytes()[2] == b'-' => (&week[..2], Some(&week[3..])),
            (false, 3) => (&week[..2], Some(&week[2..])),
            _ => return false,
        };
        let Some(w) = num(w) else { return false };
        if day.is_some_and(|d| !num(d).is_some_and(|d| (1..=7).contains(&d))) {
            return false;
        }
        // A year has 53 ISO weeks when it starts on a Thursday, or on a Wednesday
        // in a leap year (Sakamoto's weekday of 1 January, 0 = Sunday).
        let y = year - 1;
        let jan1 = (y + y / 4 - y / 100 + y / 400 + 1) % 7;
        let weeks = if jan1 == 4 || (leap && jan1 == 3) {
            53
        } else {
            52
        };
        return (1..=weeks).contains(&w);
    }
    let (m, d) = match (dashed, rest.len()) {
        (true, 5) if rest.as_bytes()[2] == b'-' => (&rest[..2], &rest[3..]),
        (false, 4) => (&rest[..2], &rest[2..]),
        _ => return false,
    };
    let (Some(m), Some(d)) = (num(m), num(d)) else {
        return false;
    };
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

pub(crate) const USERS: S = S::ByType(&[
    (Ty::Str, S::Deprecated(&STR, "Use a list of users.")),
    (Ty::Array, array(&S::OneOf(&[STR, STRINGS, USER]), 0)),
    // A mapping of names to entries (or to true); cloud-init's schema checks no more.
    (Ty::Object, S::Deprecated(&OBJECT, "Use a list of users.")),
]);

pub(crate) const LEGACY_USER: S = S::OneOf(&[STR, USER]);

/// `groups: {name: members}`: members are a name or a list of names (one type list, as
/// cloud-init's schema has it: `[]` is "too short", `null` is "not of type").
const GROUPS_BY_NAME: S = S::Object {
    props: &[],
    required: &[],
    extra: Extra::Each(&S::ByType(&[(Ty::Str, STR), (Ty::Array, STRINGS_NONEMPTY)])),
    min_props: 0,
};

pub(crate) const GROUPS: S = S::ByType(&[
    (Ty::Str, STR),
    (Ty::Object, GROUPS_BY_NAME),
    (
        Ty::Array,
        array(
            &S::ByType(&[(Ty::Str, STR), (Ty::Object, GROUPS_BY_NAME)]),
            0,
        ),
    ),
]);

pub(crate) const STRING: S = STR;
pub(crate) const INTEGER: S = INT;

/// `system_info`: the image's own settings, deprecated in user data since 24.2.
pub(crate) const SYSTEM_INFO: S = S::Deprecated(
    &S::Type(&[Ty::Object]),
    "System and/or distro specific settings. This is not intended to be overridden by \
     user-data or vendor-data.",
);
pub(crate) const BOOLEAN: S = BOOL;
pub(crate) const SSH_AUTHORIZED_KEYS: S = STRINGS_NONEMPTY;
pub(crate) const SSH_IMPORT_ID: S = STRINGS;
pub(crate) const STRING_LIST: S = STRINGS;
pub(crate) const SSH_CONSOLE: S =
    object(&[("emit_keys_to_console", BOOL)], &["emit_keys_to_console"]);

pub(crate) const MANAGE_ETC_HOSTS: S = S::OneOf(&[
    S::Enum(&[Lit::Bool(true), Lit::Bool(false), Lit::Str("localhost")]),
    S::Deprecated(&S::Enum(&[Lit::Str("template")]), "Use true instead."),
]);

const PACKAGE_ITEM: S = S::OneOf(&[
    S::Array {
        items: &STR,
        min: 2,
        max: Some(2),
        unique: false,
    },
    STR,
]);

pub(crate) const PACKAGES: S = array(
    &S::OneOf(&[
        object(
            &[
                ("apt", array(&PACKAGE_ITEM, 0)),
                ("snap", array(&PACKAGE_ITEM, 0)),
            ],
            &[],
        ),
        S::Array {
            items: &STR,
            min: 2,
            max: Some(2),
            unique: false,
        },
        STR,
    ]),
    1,
);

pub(crate) const DEPRECATED_APT_BOOL: S = S::Deprecated(
    &BOOL,
    "Use package_update, package_upgrade or package_reboot_if_required.",
);

fn is_delay(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) const POWER_STATE: S = object(
    &[
        (
            "delay",
            S::OneOf(&[
                S::IntMin(0),
                S::Deprecated(
                    &S::Pattern(is_delay, "^\\+?[0-9]+$"),
                    "Use now or an integer number of minutes.",
                ),
                S::Enum(&[Lit::Str("now")]),
            ]),
        ),
        (
            "mode",
            S::All(&[
                STR,
                S::Enum(&[Lit::Str("poweroff"), Lit::Str("reboot"), Lit::Str("halt")]),
            ]),
        ),
        ("message", STR),
        ("timeout", INT),
        ("condition", S::OneOf(&[STR, BOOL, ARRAY])),
    ],
    &["mode"],
);

const UNIQUE_STRINGS: S = S::Array {
    items: &STR,
    min: 0,
    max: None,
    unique: true,
};

pub(crate) const NTP: S = S::ByType(&[
    (Ty::Null, NULL),
    (
        Ty::Object,
        object(
            &[
                ("pools", UNIQUE_STRINGS),
                ("servers", UNIQUE_STRINGS),
                ("peers", UNIQUE_STRINGS),
                ("allow", UNIQUE_STRINGS),
                ("ntp_client", STR),
                ("enabled", BOOL),
                (
                    "config",
                    S::Object {
                        props: &[
                            ("confpath", STR),
                            ("check_exe", STR),
                            ("packages", UNIQUE_STRINGS),
                            ("service_name", STR),
                            ("template", STR),
                        ],
                        required: &[],
                        extra: Extra::Deny,
                        min_props: 1,
                    },
                ),
            ],
            &[],
        ),
    ),
]);

const MERGE_SETTINGS: &[Lit] = &[
    Lit::Str("allow_delete"),
    Lit::Str("no_replace"),
    Lit::Str("replace"),
    Lit::Str("append"),
    Lit::Str("prepend"),
    Lit::Str("recurse_dict"),
    Lit::Str("recurse_list"),
    Lit::Str("recurse_array"),
    Lit::Str("recurse_str"),
];

pub(crate) const MERGE_HOW: S = S::OneOf(&[
    STR,
    array(
        &object(
            &[
                (
                    "name",
                    S::All(&[
                        STR,
                        S::Enum(&[Lit::Str("list"), Lit::Str("dict"), Lit::Str("str")]),
                    ]),
                ),
                (
                    "settings",
                    array(&S::All(&[STR, S::Enum(MERGE_SETTINGS)]), 0),
                ),
            ],
            &["name", "settings"],
        ),
        1,
    ),
]);

fn is_ssh_key_name(name: &str) -> bool {
    let Some((kind, part)) = name.split_once('_') else {
        return false;
    };
    matches!(kind, "ecdsa" | "ed25519" | "rsa")
        && matches!(part, "public" | "private" | "certificate")
}

/// Host keys by type; cloud-init 25 dropped DSA (22.4 accepted `dsa_*`).
pub(crate) const SSH_KEYS: S = S::Object {
    props: &[],
    required: &[],
    extra: Extra::Named(
        is_ssh_key_name,
        "^(ecdsa|ed25519|rsa)_(public|private|certificate)$",
        &STR,
    ),
    min_props: 0,
};

/// Key types to generate; cloud-init 25 dropped DSA (22.4 accepted `dsa`).
pub(crate) const SSH_GENKEYTYPES: S = array(
    &S::All(&[
        STR,
        S::Enum(&[Lit::Str("ecdsa"), Lit::Str("ed25519"), Lit::Str("rsa")]),
    ]),
    1,
);

pub(crate) const SSH_PUBLISH_HOSTKEYS: S =
    object(&[("enabled", BOOL), ("blacklist", STRINGS)], &[]);

const GROWPART_MODES: &[Lit] = &[
    Lit::Str("auto"),
    Lit::Str("growpart"),
    Lit::Str("gpart"),
    Lit::Str("off"),
];

pub(crate) const GROWPART: S = object(
    &[
        (
            "mode",
            S::OneOf(&[
                S::Enum(GROWPART_MODES),
                S::Deprecated(&S::Enum(&[Lit::Bool(false)]), "Use 'off' instead."),
            ]),
        ),
        ("devices", STRINGS),
        ("ignore_growroot_disabled", BOOL),
    ],
    &[],
);

pub(crate) const RESIZE_ROOTFS: S =
    S::Enum(&[Lit::Bool(true), Lit::Bool(false), Lit::Str("noblock")]);

/// `mounts`: fstab entries of one to six strings.
pub(crate) const MOUNTS: S = array(
    &S::Array {
        items: &STR,
        min: 1,
        max: Some(6),
        unique: false,
    },
    1,
);

pub(crate) const MOUNT_DEFAULT_FIELDS: S = S::Array {
    items: &S::OneOf(&[STR, NULL]),
    min: 6,
    max: Some(6),
    unique: false,
};

/// `^([0-9]+)?\.?[0-9]+[BKMGT]$`: `2G`, `.5G`, `512M`.
fn is_human_size(s: &str) -> bool {
    let Some(num) = s.strip_suffix(['B', 'K', 'M', 'G', 'T']) else {
        return false;
    };
    let (int, frac) = match num.split_once('.') {
        Some((a, b)) => (a, b),
        None => ("", num),
    };
    int.bytes().all(|b| b.is_ascii_digit())
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
}

const HUMAN_SIZE: S = S::Pattern(is_human_size, "^([0-9]+)?\\.?[0-9]+[BKMGT]$");

pub(crate) const SWAP: S = object(
    &[
        ("filename", STR),
        (
            "size",
            S::OneOf(&[S::Enum(&[Lit::Str("auto")]), INT, HUMAN_SIZE]),
        ),
        ("maxsize", S::OneOf(&[INT, HUMAN_SIZE])),
    ],
    &[],
);

/// `cloud_init_modules` and friends: a module name, or `[name, frequency, args...]`.
pub(crate) const MODULE_LIST: S = array(&S::OneOf(&[STR, ARRAY]), 0);

/// `chpasswd.list` items: `user:password`.
fn is_user_password(s: &str) -> bool {
    s.split_once(':')
        .is_some_and(|(u, p)| !u.is_empty() && !p.is_empty())
}

/// `chpasswd.users` items: a mapping, with a RANDOM password or a given one (hash or
/// text); `anyOf` as in cloud-init 25 (22.4: `oneOf`), whose options check mappings
/// only (a value of another type fails the item's `type` alone).
const CHPASSWD_USER: S = S::All(&[
    OBJECT,
    S::AnyOf(&[
        S::Only(
            Ty::Object,
            &object(
                &[
                    ("name", STR),
                    ("type", S::All(&[STR, S::Enum(&[Lit::Str("RANDOM")])])),
                ],
                &["name", "type"],
            ),
        ),
        S::Only(
            Ty::Object,
            &object(
                &[
                    ("name", STR),
                    (
                        "type",
                        S::All(&[STR, S::Enum(&[Lit::Str("hash"), Lit::Str("text")])]),
                    ),
                    ("password", STR),
                ],
                &["name", "password"],
            ),
        ),
    ]),
]);

pub(crate) const CHPASSWD: S = object(
    &[
        ("expire", BOOL),
        ("users", array(&CHPASSWD_USER, 0)),
        (
            "list",
            S::Deprecated(
                &S::OneOf(&[STR, array(&S::Pattern(is_user_password, "^.+:.+$"), 0)]),
                "Use chpasswd.users.",
            ),
        ),
    ],
    &[],
);

pub(crate) const SSH_PWAUTH: S =
    S::OneOf(&[BOOL, S::Deprecated(&STR, "Use a boolean (true or false).")]);

const CA_CERTS_PROPS: S = S::Object {
    props: &[
        ("remove_defaults", BOOL),
        (
            "remove-defaults",
            S::Deprecated(&BOOL, "Use ca_certs.remove_defaults."),
        ),
        ("trusted", STRINGS_NONEMPTY),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

pub(crate) const CA_CERTS: S = CA_CERTS_PROPS;
pub(crate) const CA_CERTS_HYPHEN: S = S::Deprecated(&CA_CERTS_PROPS, "Use ca_certs.");

const APT_MIRROR: S = array(
    &object(
        &[
            ("arches", STRINGS_NONEMPTY),
            ("uri", STR),
            ("search", STRINGS_NONEMPTY),
            ("search_dns", BOOL),
            ("keyid", STR),
            ("key", STR),
            ("keyserver", STR),
        ],
        &["arches"],
    ),
    1,
);

const APT_SOURCE: S = S::Object {
    props: &[
        ("source", STR),
        ("keyid", STR),
        ("key", STR),
        ("keyserver", STR),
        ("filename", STR),
        ("append", BOOL),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

pub(crate) const APT: S = S::Object {
    props: &[
        ("preserve_sources_list", BOOL),
        ("generate_mirrorlists", BOOL),
        (
            "disable_suites",
            S::Array {
                items: &STR,
                min: 1,
                max: None,
                unique: true,
            },
        ),
        ("primary", APT_MIRROR),
        ("security", APT_MIRROR),
        ("add_apt_repo_match", STR),
        (
            "debconf_selections",
            S::Object {
                props: &[],
                required: &[],
                extra: Extra::Each(&STR),
                min_props: 1,
            },
        ),
        ("sources_list", STR),
        ("conf", STR),
        ("https_proxy", STR),
        ("http_proxy", STR),
        ("proxy", STR),
        ("ftp_proxy", STR),
        (
            "sources",
            S::Object {
                props: &[],
                required: &[],
                extra: Extra::Each(&APT_SOURCE),
                min_props: 0,
            },
        ),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

/// strap's `apply_changed_user_data`: what a boot does when the user data changed since
/// it was applied (`off` unquoted is YAML 1.1's false).
pub const APPLY_CHANGED_USER_DATA: S = S::Enum(&[
    Lit::Bool(false),
    Lit::Str("off"),
    Lit::Str("plan"),
    Lit::Str("apply"),
]);

/// One stage of `output`: a target for both streams, `[stdout, stderr]`, or
/// `{output, error}` (cloud-init's `output_log_operator`).
const OUTPUT_TARGETS: S = S::OneOf(&[
    STR,
    S::Array {
        items: &S::Type(&[Ty::Str, Ty::Null]),
        min: 1,
        max: Some(2),
        unique: false,
    },
    S::Object {
        props: &[("output", STR), ("error", STR)],
        required: &[],
        extra: Extra::Deny,
        min_props: 0,
    },
]);

/// `output`: where each stage's output goes.
pub(crate) const OUTPUT: S = S::Object {
    props: &[
        ("all", OUTPUT_TARGETS),
        ("init", OUTPUT_TARGETS),
        ("config", OUTPUT_TARGETS),
        ("final", OUTPUT_TARGETS),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `locale`: a locale name, or `false` to leave it alone (today's cloud-init's schema;
/// 22.4's says string only, against its own example).
pub(crate) const LOCALE: S = S::OneOf(&[BOOL, STR]);

/// `yum_repos` ids: `^[0-9a-zA-Z -_]+$`, where ` -_` is the range from space to `_`.
fn is_repo_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || (' '..='_').contains(&c))
}

/// `yum_repos` option names: `^[0-9a-zA-Z_]+$`.
fn is_repo_option(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One repository: its options, and (cloud-init 25; 22.4 required `baseurl`) one of
/// `baseurl`, `metalink` or `mirrorlist`.
const YUM_REPO: S = S::All(&[
    S::Object {
        props: &[
            ("baseurl", STR),
            ("metalink", STR),
            ("mirrorlist", STR),
            ("name", STR),
            ("enabled", BOOL),
        ],
        required: &[],
        extra: Extra::Named(
            is_repo_option,
            "^[0-9a-zA-Z_]+$",
            &S::OneOf(&[INT, BOOL, STR]),
        ),
        min_props: 0,
    },
    S::AnyOf(&[
        S::Only(Ty::Object, &object_requiring(&["baseurl"])),
        S::Only(Ty::Object, &object_requiring(&["metalink"])),
        S::Only(Ty::Object, &object_requiring(&["mirrorlist"])),
    ]),
]);

/// `yum_repos`: repositories by id.
pub(crate) const YUM_REPOS: S = S::Object {
    props: &[],
    required: &[],
    extra: Extra::Named(is_repo_id, "^[0-9a-zA-Z -_]+$", &YUM_REPO),
    min_props: 1,
};

/// Amazon Linux's `repo_upgrade`: a level, or a boolean.
pub(crate) const REPO_UPGRADE: S = S::OneOf(&[
    S::Enum(&[
        Lit::Str("none"),
        Lit::Str("security"),
        Lit::Str("bugfix"),
        Lit::Str("all"),
    ]),
    BOOL,
]);

const USE_APT: &str = "Use apt instead.";
/// The deprecated top-level apt keys (cloud-init converts them to `apt`).
pub(crate) const LEGACY_APT_SOURCES: S = S::Deprecated(&S::Type(&[Ty::Array, Ty::Object]), USE_APT);
pub(crate) const LEGACY_APT_STRING: S = S::Deprecated(&STR, USE_APT);
pub(crate) const LEGACY_APT_STRINGS: S = S::Deprecated(&STRINGS, USE_APT);
pub(crate) const LEGACY_APT_BOOL: S = S::Deprecated(&BOOL, USE_APT);
