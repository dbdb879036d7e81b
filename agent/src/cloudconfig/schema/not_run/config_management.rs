//! Configuration-management agents: ansible, chef, puppet, salt, mcollective, landscape,
//! spacewalk and Red Hat subscriptions. (strap runs ansible, chef, puppet and salt since
//! these were written; their definitions stay here, beside the others.)

use super::super::eval::{Extra, Lit, Ty, S};
use super::{is_name_list, is_non_empty, is_one_line, BOOL, INT, NUMBER, OBJECT, STR, STRINGS};

/// `ansible` (cc_ansible).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: `run_ansible` entries are
/// objects (22.4: any type) and `pull` gains `inventory` and `verify_commit`.
pub(crate) const ANSIBLE: S = S::Object {
    props: &[
        (
            "install_method",
            S::All(&[STR, S::Enum(&[Lit::Str("distro"), Lit::Str("pip")])]),
        ),
        ("run_user", STR),
        ("ansible_config", STR),
        (
            "setup_controller",
            S::Object {
                props: &[
                    (
                        "repositories",
                        S::Array {
                            items: &S::Object {
                                props: &[("path", STR), ("source", STR)],
                                required: &["path", "source"],
                                extra: Extra::Deny,
                                min_props: 0,
                            },
                            min: 0,
                            max: None,
                            unique: false,
                        },
                    ),
                    (
                        "run_ansible",
                        S::Array {
                            items: &S::Object {
                                props: &[
                                    ("playbook_name", STR),
                                    ("playbook_dir", STR),
                                    ("become_password_file", STR),
                                    ("connection_password_file", STR),
                                    ("list_hosts", BOOL),
                                    ("syntax_check", BOOL),
                                    ("timeout", S::All(&[NUMBER, S::Min(0)])),
                                    ("vault_id", STR),
                                    ("vault_password_file", STR),
                                    ("background", S::All(&[NUMBER, S::Min(0)])),
                                    ("check", BOOL),
                                    ("diff", BOOL),
                                    ("module_path", STR),
                                    ("poll", S::All(&[NUMBER, S::Min(0)])),
                                    ("args", STR),
                                    ("extra_vars", STR),
                                    ("forks", S::All(&[NUMBER, S::Min(0)])),
                                    ("inventory", STR),
                                    ("scp_extra_args", STR),
                                    ("sftp_extra_args", STR),
                                    ("private_key", STR),
                                    ("connection", STR),
                                    ("module_name", STR),
                                    ("sleep", STR),
                                    ("tags", STR),
                                    ("skip_tags", STR),
                                ],
                                required: &[],
                                extra: Extra::Allow,
                                min_props: 0,
                            },
                            min: 0,
                            max: None,
                            unique: false,
                        },
                    ),
                ],
                required: &[],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
        (
            "galaxy",
            S::Object {
                props: &[(
                    "actions",
                    S::Array {
                        items: &S::Array {
                            items: &S::All(&[
                                STR,
                                S::Only(Ty::Str, &S::Pattern(is_one_line, "^.*$")),
                            ]),
                            min: 0,
                            max: None,
                            unique: false,
                        },
                        min: 0,
                        max: None,
                        unique: false,
                    },
                )],
                required: &["actions"],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
        ("package_name", STR),
        (
            "pull",
            S::Object {
                props: &[
                    ("accept_host_key", BOOL),
                    ("clean", BOOL),
                    ("full", BOOL),
                    ("diff", BOOL),
                    ("ssh_common_args", STR),
                    ("scp_extra_args", STR),
                    ("sftp_extra_args", STR),
                    ("private_key", STR),
                    ("checkout", STR),
                    ("module_path", STR),
                    ("timeout", STR),
                    ("url", STR),
                    ("connection", STR),
                    ("vault_id", STR),
                    ("vault_password_file", STR),
                    ("verify_commit", BOOL),
                    ("inventory", STR),
                    ("module_name", STR),
                    ("sleep", STR),
                    ("tags", STR),
                    ("skip_tags", STR),
                    ("playbook_name", STR),
                ],
                required: &["url", "playbook_name"],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `chef` (cc_chef).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: `config_path` is new and
/// `chef_license` must be one of the three licence answers (22.4: any text).
pub(crate) const CHEF: S = S::Object {
    props: &[
        (
            "directories",
            S::Array {
                items: &STR,
                min: 1,
                max: None,
                unique: true,
            },
        ),
        ("config_path", STR),
        ("validation_cert", STR),
        ("validation_key", STR),
        ("firstboot_path", STR),
        ("exec", BOOL),
        ("client_key", STR),
        ("encrypted_data_bag_secret", STR),
        ("environment", STR),
        ("file_backup_path", STR),
        ("file_cache_path", STR),
        ("json_attribs", STR),
        ("log_level", STR),
        ("log_location", STR),
        ("node_name", STR),
        ("omnibus_url", STR),
        ("omnibus_url_retries", INT),
        ("omnibus_version", STR),
        ("pid_file", STR),
        ("server_url", STR),
        ("show_time", BOOL),
        ("ssl_verify_mode", STR),
        ("validation_name", STR),
        ("force_install", BOOL),
        (
            "initial_attributes",
            S::All(&[OBJECT, S::Only(Ty::Array, &STRINGS)]),
        ),
        (
            "install_type",
            S::All(&[
                STR,
                S::Enum(&[Lit::Str("packages"), Lit::Str("gems"), Lit::Str("omnibus")]),
            ]),
        ),
        ("run_list", STRINGS),
        (
            "chef_license",
            S::All(&[
                STR,
                S::Enum(&[
                    Lit::Str("accept"),
                    Lit::Str("accept-silent"),
                    Lit::Str("accept-no-persist"),
                ]),
            ]),
        ),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

/// `landscape` (cc_landscape).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: `client` requires
/// `account_name` and `computer_title` (22.4: nothing required).
pub(crate) const LANDSCAPE: S = S::Object {
    props: &[(
        "client",
        S::Object {
            props: &[
                ("url", STR),
                ("ping_url", STR),
                ("data_path", STR),
                (
                    "log_level",
                    S::All(&[
                        STR,
                        S::Enum(&[
                            Lit::Str("debug"),
                            Lit::Str("info"),
                            Lit::Str("warning"),
                            Lit::Str("error"),
                            Lit::Str("critical"),
                        ]),
                    ]),
                ),
                ("computer_title", STR),
                ("account_name", STR),
                ("registration_key", STR),
                (
                    "tags",
                    S::All(&[
                        STR,
                        S::Only(
                            Ty::Str,
                            &S::Pattern(is_name_list, "^[-_0-9a-zA-Z]+(,[-_0-9a-zA-Z]+)*$"),
                        ),
                    ]),
                ),
                ("http_proxy", STR),
                ("https_proxy", STR),
            ],
            required: &["account_name", "computer_title"],
            extra: Extra::Allow,
            min_props: 0,
        },
    )],
    required: &["client"],
    extra: Extra::Deny,
    min_props: 0,
};

/// `mcollective` (cc_mcollective).
pub(crate) const MCOLLECTIVE: S = S::Object {
    props: &[(
        "conf",
        S::Object {
            props: &[("public-cert", STR), ("private-cert", STR)],
            required: &[],
            extra: Extra::Named(is_non_empty, "^.+$", &S::OneOf(&[BOOL, INT, STR])),
            min_props: 0,
        },
    )],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `puppet` (cc_puppet).
pub(crate) const PUPPET: S = S::Object {
    props: &[
        ("install", BOOL),
        ("version", STR),
        (
            "install_type",
            S::All(&[STR, S::Enum(&[Lit::Str("packages"), Lit::Str("aio")])]),
        ),
        ("collection", STR),
        ("aio_install_url", STR),
        ("cleanup", BOOL),
        ("conf_file", STR),
        ("ssl_dir", STR),
        ("csr_attributes_path", STR),
        ("package_name", STR),
        ("exec", BOOL),
        ("exec_args", STRINGS),
        ("start_service", BOOL),
        (
            "conf",
            S::Object {
                props: &[
                    ("main", OBJECT),
                    ("server", OBJECT),
                    ("agent", OBJECT),
                    ("user", OBJECT),
                    ("ca_cert", STR),
                ],
                required: &[],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
        (
            "csr_attributes",
            S::Object {
                props: &[
                    ("custom_attributes", OBJECT),
                    ("extension_requests", OBJECT),
                ],
                required: &[],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `rh_subscription` (cc_rh_subscription).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: `org` is text, an integer
/// deprecated (22.4: integer only).
pub(crate) const RH_SUBSCRIPTION: S = S::Object {
    props: &[
        ("username", STR),
        ("password", STR),
        ("activation-key", STR),
        (
            "org",
            S::OneOf(&[
                STR,
                S::Deprecated(
                    &INT,
                    "Use of type integer for this value is deprecated. Use a string instead.",
                ),
            ]),
        ),
        ("auto-attach", BOOL),
        ("service-level", STR),
        ("add-pool", STRINGS),
        ("enable-repo", STRINGS),
        ("disable-repo", STRINGS),
        ("rhsm-baseurl", STR),
        ("server-hostname", STR),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `salt_minion` (cc_salt_minion).
pub(crate) const SALT_MINION: S = S::Object {
    props: &[
        ("pkg_name", STR),
        ("service_name", STR),
        ("config_dir", STR),
        ("conf", OBJECT),
        ("grains", OBJECT),
        ("public_key", STR),
        ("private_key", STR),
        ("pki_dir", STR),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `spacewalk` (cc_spacewalk).
pub(crate) const SPACEWALK: S = S::Object {
    props: &[("server", STR), ("proxy", STR), ("activation_key", STR)],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};
