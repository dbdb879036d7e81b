//! The rest of the system: autoinstall, byobu, fan, GRUB, hotplug, keyboard, LXD, phone
//! home, resolv.conf, rsyslog, vendor data, the random seed, SSH fingerprints, WireGuard
//! and reporting.

use super::super::eval::{Extra, Lit, Ty, S};
use super::{is_non_empty, ARRAY, BOOL, INT, NUMBER, OBJECT, STR, STRINGS};

/// `autoinstall` (cc_ubuntu_autoinstall).
pub(crate) const AUTOINSTALL: S = S::Object {
    props: &[("version", INT)],
    required: &["version"],
    extra: Extra::Allow,
    min_props: 0,
};

/// `byobu_by_default` (cc_byobu).
pub(crate) const BYOBU_BY_DEFAULT: S = S::All(&[
    STR,
    S::Enum(&[
        Lit::Str("enable-system"),
        Lit::Str("enable-user"),
        Lit::Str("disable-system"),
        Lit::Str("disable-user"),
        Lit::Str("enable"),
        Lit::Str("disable"),
        Lit::Str("user"),
        Lit::Str("system"),
    ]),
]);

/// `fan` (cc_fan).
pub(crate) const FAN: S = S::Object {
    props: &[("config", STR), ("config_path", STR)],
    required: &["config"],
    extra: Extra::Deny,
    min_props: 0,
};

/// `grub_dpkg` (cc_grub_dpkg).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: `grub-efi/install_devices`
/// is new; a text `grub-pc/install_devices_empty` is marked changed, not deprecated.
pub(crate) const GRUB_DPKG: S = S::Object {
    props: &[
        ("enabled", BOOL),
        ("grub-pc/install_devices", STR),
        // Text is `changed` in cloud-init 25, which reports it with the deprecations.
        (
            "grub-pc/install_devices_empty",
            S::OneOf(&[BOOL, S::Deprecated(&STR, "Use a boolean value instead.")]),
        ),
        ("grub-efi/install_devices", STR),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `grub-dpkg` (cc_grub_dpkg).
pub(crate) const GRUB_DPKG_HYPHENATED: S = S::Deprecated(&OBJECT, "Use grub_dpkg instead.");

/// `updates` (cc_install_hotplug).
pub(crate) const UPDATES: S = S::Object {
    props: &[(
        "network",
        S::Object {
            props: &[(
                "when",
                S::Array {
                    items: &S::All(&[
                        STR,
                        S::Enum(&[
                            Lit::Str("boot-new-instance"),
                            Lit::Str("boot-legacy"),
                            Lit::Str("boot"),
                            Lit::Str("hotplug"),
                        ]),
                    ]),
                    min: 0,
                    max: None,
                    unique: false,
                },
            )],
            required: &["when"],
            extra: Extra::Deny,
            min_props: 0,
        },
    )],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `keyboard` (cc_keyboard).
pub(crate) const KEYBOARD: S = S::Object {
    props: &[
        ("layout", STR),
        ("model", STR),
        ("variant", STR),
        ("options", STR),
    ],
    required: &["layout"],
    extra: Extra::Deny,
    min_props: 0,
};

/// `lxd` (cc_lxd).
pub(crate) const LXD: S = S::Object {
    props: &[
        (
            "init",
            S::Object {
                props: &[
                    ("network_address", STR),
                    ("network_port", INT),
                    (
                        "storage_backend",
                        S::All(&[
                            STR,
                            S::Enum(&[
                                Lit::Str("zfs"),
                                Lit::Str("dir"),
                                Lit::Str("lvm"),
                                Lit::Str("btrfs"),
                            ]),
                        ]),
                    ),
                    ("storage_create_device", STR),
                    ("storage_create_loop", INT),
                    ("storage_pool", STR),
                    ("trust_password", STR),
                ],
                required: &[],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
        (
            "bridge",
            S::Object {
                props: &[
                    (
                        "mode",
                        S::All(&[
                            STR,
                            S::Enum(&[Lit::Str("none"), Lit::Str("existing"), Lit::Str("new")]),
                        ]),
                    ),
                    ("name", STR),
                    ("mtu", S::All(&[INT, S::Min(-1)])),
                    ("ipv4_address", STR),
                    ("ipv4_netmask", INT),
                    ("ipv4_dhcp_first", STR),
                    ("ipv4_dhcp_last", STR),
                    ("ipv4_dhcp_leases", INT),
                    ("ipv4_nat", BOOL),
                    ("ipv6_address", STR),
                    ("ipv6_netmask", INT),
                    ("ipv6_nat", BOOL),
                    ("domain", STR),
                ],
                required: &["mode"],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
        ("preseed", STR),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

/// `phone_home` (cc_phone_home).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: `post` no longer takes
/// `pub_key_dsa`.
pub(crate) const PHONE_HOME: S = S::Object {
    props: &[
        ("url", STR),
        (
            "post",
            S::OneOf(&[
                S::Enum(&[Lit::Str("all")]),
                S::Array {
                    items: &S::All(&[
                        STR,
                        S::Enum(&[
                            Lit::Str("pub_key_rsa"),
                            Lit::Str("pub_key_ecdsa"),
                            Lit::Str("pub_key_ed25519"),
                            Lit::Str("instance_id"),
                            Lit::Str("hostname"),
                            Lit::Str("fqdn"),
                        ]),
                    ]),
                    min: 0,
                    max: None,
                    unique: false,
                },
            ]),
        ),
        ("tries", INT),
    ],
    required: &["url"],
    extra: Extra::Deny,
    min_props: 0,
};

/// `manage_resolv_conf` (cc_resolv_conf).
pub(crate) const MANAGE_RESOLV_CONF: S = BOOL;

/// `resolv_conf` (cc_resolv_conf).
pub(crate) const RESOLV_CONF: S = S::Object {
    props: &[
        ("nameservers", ARRAY),
        ("searchdomains", ARRAY),
        ("domain", STR),
        ("sortlist", ARRAY),
        ("options", OBJECT),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `rsyslog` (cc_rsyslog).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: `install_rsyslog`,
/// `check_exe` and `packages` are new.
pub(crate) const RSYSLOG: S = S::Object {
    props: &[
        ("config_dir", STR),
        ("config_filename", STR),
        (
            "configs",
            S::Array {
                items: &S::OneOf(&[
                    STR,
                    S::Object {
                        props: &[("filename", STR), ("content", STR)],
                        required: &["content"],
                        extra: Extra::Deny,
                        min_props: 0,
                    },
                ]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        ("remotes", OBJECT),
        (
            "service_reload_command",
            S::OneOf(&[S::Enum(&[Lit::Str("auto")]), STRINGS]),
        ),
        ("install_rsyslog", BOOL),
        ("check_exe", STR),
        (
            "packages",
            S::Array {
                items: &STR,
                min: 0,
                max: None,
                unique: true,
            },
        ),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `vendor_data` (cc_scripts_vendor).
pub(crate) const VENDOR_DATA: S = S::Object {
    props: &[
        (
            "enabled",
            S::OneOf(&[
                BOOL,
                S::Deprecated(
                    &STR,
                    "Use of type string for this value is deprecated. Use a boolean instead.",
                ),
            ]),
        ),
        (
            "prefix",
            S::All(&[
                S::Type(&[Ty::Array, Ty::Str]),
                S::Only(
                    Ty::Array,
                    &S::Array {
                        items: &S::Type(&[Ty::Str, Ty::Int]),
                        min: 0,
                        max: None,
                        unique: false,
                    },
                ),
            ]),
        ),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `random_seed` (cc_seed_random).
pub(crate) const RANDOM_SEED: S = S::Object {
    props: &[
        ("file", STR),
        ("data", STR),
        (
            "encoding",
            S::All(&[
                STR,
                S::Enum(&[
                    Lit::Str("raw"),
                    Lit::Str("base64"),
                    Lit::Str("b64"),
                    Lit::Str("gzip"),
                    Lit::Str("gz"),
                ]),
            ]),
        ),
        ("command", STRINGS),
        ("command_required", BOOL),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `no_ssh_fingerprints` (cc_ssh_authkey_fingerprints).
pub(crate) const NO_SSH_FINGERPRINTS: S = BOOL;

/// `authkey_hash` (cc_ssh_authkey_fingerprints).
pub(crate) const AUTHKEY_HASH: S = STR;

/// `wireguard` (cc_wireguard).
pub(crate) const WIREGUARD: S = S::All(&[
    S::Type(&[Ty::Null, Ty::Object]),
    S::Only(
        Ty::Object,
        &S::Object {
            props: &[
                (
                    "interfaces",
                    S::Array {
                        items: &S::Object {
                            props: &[("name", STR), ("config_path", STR), ("content", STR)],
                            required: &[],
                            extra: Extra::Deny,
                            min_props: 0,
                        },
                        min: 1,
                        max: None,
                        unique: false,
                    },
                ),
                (
                    "readinessprobe",
                    S::Array {
                        items: &STR,
                        min: 0,
                        max: None,
                        unique: true,
                    },
                ),
            ],
            required: &["interfaces"],
            extra: Extra::Deny,
            min_props: 1,
        },
    ),
]);

/// cloud-init 25's `reporting` option for `log`, as Python prints it.
const REPORTING_LOG: &str = "{'additionalProperties': False, 'required': ['type'], 'properties': {'type': {'type': 'string', 'enum': ['log']}, 'level': {'type': 'string', 'enum': ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'], 'default': 'DEBUG'}}}";
/// cloud-init 25's `reporting` option for `print`, as Python prints it.
const REPORTING_PRINT: &str = "{'additionalProperties': False, 'required': ['type'], 'properties': {'type': {'type': 'string', 'enum': ['print']}}}";
/// cloud-init 25's `reporting` option for `webhook`, as Python prints it.
const REPORTING_WEBHOOK: &str = "{'additionalProperties': False, 'required': ['type', 'endpoint'], 'properties': {'type': {'type': 'string', 'enum': ['webhook']}, 'endpoint': {'type': 'string', 'format': 'uri', 'description': 'The URL to send the event to.'}, 'consumer_key': {'type': 'string', 'description': 'The consumer key to use for the webhook.'}, 'token_key': {'type': 'string', 'description': 'The token key to use for the webhook.'}, 'token_secret': {'type': 'string', 'description': 'The token secret to use for the webhook.'}, 'consumer_secret': {'type': 'string', 'description': 'The consumer secret to use for the webhook.'}, 'timeout': {'type': 'number', 'minimum': 0, 'description': 'The timeout in seconds to wait for a response from the webhook.'}, 'retries': {'type': 'integer', 'minimum': 0, 'description': 'The number of times to retry sending the webhook.'}}}";
/// cloud-init 25's `reporting` option for `hyperv`, as Python prints it.
const REPORTING_HYPERV: &str = "{'additionalProperties': False, 'required': ['type'], 'properties': {'type': {'type': 'string', 'enum': ['hyperv']}, 'kvp_file_path': {'type': 'string', 'description': 'The path to the KVP file to use for the hyperv reporter.', 'default': '/var/lib/hyperv/.kvp_pool_1'}, 'event_types': {'type': 'array', 'items': {'type': 'string'}}}}";

/// `reporting` (reporting).
pub(crate) const REPORTING: S = S::Object {
    props: &[],
    required: &[],
    extra: Extra::Named(
        is_non_empty,
        "^.+$",
        &S::All(&[
            OBJECT,
            S::OneOf(&[
                S::Shown(
                    &S::Only(
                        Ty::Object,
                        &S::Object {
                            props: &[
                                ("type", S::All(&[STR, S::Enum(&[Lit::Str("log")])])),
                                (
                                    "level",
                                    S::All(&[
                                        STR,
                                        S::Enum(&[
                                            Lit::Str("DEBUG"),
                                            Lit::Str("INFO"),
                                            Lit::Str("WARN"),
                                            Lit::Str("ERROR"),
                                            Lit::Str("FATAL"),
                                        ]),
                                    ]),
                                ),
                            ],
                            required: &["type"],
                            extra: Extra::Deny,
                            min_props: 0,
                        },
                    ),
                    REPORTING_LOG,
                ),
                S::Shown(
                    &S::Only(
                        Ty::Object,
                        &S::Object {
                            props: &[("type", S::All(&[STR, S::Enum(&[Lit::Str("print")])]))],
                            required: &["type"],
                            extra: Extra::Deny,
                            min_props: 0,
                        },
                    ),
                    REPORTING_PRINT,
                ),
                S::Shown(
                    &S::Only(
                        Ty::Object,
                        &S::Object {
                            props: &[
                                ("type", S::All(&[STR, S::Enum(&[Lit::Str("webhook")])])),
                                ("endpoint", STR),
                                ("consumer_key", STR),
                                ("token_key", STR),
                                ("token_secret", STR),
                                ("consumer_secret", STR),
                                ("timeout", S::All(&[NUMBER, S::Min(0)])),
                                ("retries", S::All(&[INT, S::Min(0)])),
                            ],
                            required: &["type", "endpoint"],
                            extra: Extra::Deny,
                            min_props: 0,
                        },
                    ),
                    REPORTING_WEBHOOK,
                ),
                S::Shown(
                    &S::Only(
                        Ty::Object,
                        &S::Object {
                            props: &[
                                ("type", S::All(&[STR, S::Enum(&[Lit::Str("hyperv")])])),
                                ("kvp_file_path", STR),
                                ("event_types", STRINGS),
                            ],
                            required: &["type"],
                            extra: Extra::Deny,
                            min_props: 0,
                        },
                    ),
                    REPORTING_HYPERV,
                ),
            ]),
        ]),
    ),
    min_props: 0,
};
