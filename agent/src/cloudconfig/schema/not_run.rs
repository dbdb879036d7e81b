//! The schema of the top-level keys of cloud-init modules strap does not run, written
//! from cloud-init 25's cloud-config schema (`schema-cloud-config-v1.json`), so that
//! `strap userdata validate` judges them as `cloud-init schema` does. One definition per
//! key, in the order of cloud-init's modules. `format` (`uri`, `hostname`) is not
//! checked: cloud-init checks it only when optional Python packages are installed.

use super::eval::{Extra, Lit, Ty, S};

/// A schema without keywords: every value matches.
pub(crate) const ANY: S = S::All(&[]);

/// Python's `re.search` of `^…$` lets one newline end the text; `.` is any other
/// character. The text before that newline.
fn line_of(s: &str) -> Option<&str> {
    let body = s.strip_suffix('\n').unwrap_or(s);
    (!body.contains('\n')).then_some(body)
}

/// `^.*$`.
fn is_one_line(s: &str) -> bool {
    line_of(s).is_some()
}

/// `^.+$`.
fn is_non_empty(s: &str) -> bool {
    line_of(s).is_some_and(|b| !b.is_empty())
}

/// `^[-_0-9a-zA-Z]+(,[-_0-9a-zA-Z]+)*$`: names separated by commas.
fn is_name_list(s: &str) -> bool {
    line_of(s).is_some_and(|b| {
        b.split(',').all(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    })
}

/// The settings of `ubuntu_pro` (and the deprecated `ubuntu_advantage`).
const UBUNTU_PRO_PROPERTIES: S = S::Object {
    props: &[
        (
            "enable",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        (
            "enable_beta",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        ("token", S::Type(&[Ty::Str])),
        (
            "features",
            S::Object {
                props: &[("disable_auto_attach", S::Type(&[Ty::Bool]))],
                required: &[],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
        (
            "config",
            S::Object {
                props: &[
                    ("http_proxy", S::Type(&[Ty::Str, Ty::Null])),
                    ("https_proxy", S::Type(&[Ty::Str, Ty::Null])),
                    ("global_apt_http_proxy", S::Type(&[Ty::Str, Ty::Null])),
                    ("global_apt_https_proxy", S::Type(&[Ty::Str, Ty::Null])),
                    ("ua_apt_http_proxy", S::Type(&[Ty::Str, Ty::Null])),
                    ("ua_apt_https_proxy", S::Type(&[Ty::Str, Ty::Null])),
                ],
                required: &[],
                extra: Extra::Allow,
                min_props: 0,
            },
        ),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `ansible` (cc_ansible).
/// cloud-init 22.4's schema differs (`properties.setup_controller.properties.run_ansible.items.type`, `properties.pull.properties.verify_commit`, `properties.pull.properties.inventory`); this follows 25.
pub(crate) const ANSIBLE: S = S::Object {
    props: &[
        (
            "install_method",
            S::All(&[
                S::Type(&[Ty::Str]),
                S::Enum(&[Lit::Str("distro"), Lit::Str("pip")]),
            ]),
        ),
        ("run_user", S::Type(&[Ty::Str])),
        ("ansible_config", S::Type(&[Ty::Str])),
        (
            "setup_controller",
            S::Object {
                props: &[
                    (
                        "repositories",
                        S::Array {
                            items: &S::Object {
                                props: &[
                                    ("path", S::Type(&[Ty::Str])),
                                    ("source", S::Type(&[Ty::Str])),
                                ],
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
                                    ("playbook_name", S::Type(&[Ty::Str])),
                                    ("playbook_dir", S::Type(&[Ty::Str])),
                                    ("become_password_file", S::Type(&[Ty::Str])),
                                    ("connection_password_file", S::Type(&[Ty::Str])),
                                    ("list_hosts", S::Type(&[Ty::Bool])),
                                    ("syntax_check", S::Type(&[Ty::Bool])),
                                    ("timeout", S::All(&[S::Type(&[Ty::Number]), S::Min(0)])),
                                    ("vault_id", S::Type(&[Ty::Str])),
                                    ("vault_password_file", S::Type(&[Ty::Str])),
                                    ("background", S::All(&[S::Type(&[Ty::Number]), S::Min(0)])),
                                    ("check", S::Type(&[Ty::Bool])),
                                    ("diff", S::Type(&[Ty::Bool])),
                                    ("module_path", S::Type(&[Ty::Str])),
                                    ("poll", S::All(&[S::Type(&[Ty::Number]), S::Min(0)])),
                                    ("args", S::Type(&[Ty::Str])),
                                    ("extra_vars", S::Type(&[Ty::Str])),
                                    ("forks", S::All(&[S::Type(&[Ty::Number]), S::Min(0)])),
                                    ("inventory", S::Type(&[Ty::Str])),
                                    ("scp_extra_args", S::Type(&[Ty::Str])),
                                    ("sftp_extra_args", S::Type(&[Ty::Str])),
                                    ("private_key", S::Type(&[Ty::Str])),
                                    ("connection", S::Type(&[Ty::Str])),
                                    ("module_name", S::Type(&[Ty::Str])),
                                    ("sleep", S::Type(&[Ty::Str])),
                                    ("tags", S::Type(&[Ty::Str])),
                                    ("skip_tags", S::Type(&[Ty::Str])),
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
                                S::Type(&[Ty::Str]),
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
        ("package_name", S::Type(&[Ty::Str])),
        (
            "pull",
            S::Object {
                props: &[
                    ("accept_host_key", S::Type(&[Ty::Bool])),
                    ("clean", S::Type(&[Ty::Bool])),
                    ("full", S::Type(&[Ty::Bool])),
                    ("diff", S::Type(&[Ty::Bool])),
                    ("ssh_common_args", S::Type(&[Ty::Str])),
                    ("scp_extra_args", S::Type(&[Ty::Str])),
                    ("sftp_extra_args", S::Type(&[Ty::Str])),
                    ("private_key", S::Type(&[Ty::Str])),
                    ("checkout", S::Type(&[Ty::Str])),
                    ("module_path", S::Type(&[Ty::Str])),
                    ("timeout", S::Type(&[Ty::Str])),
                    ("url", S::Type(&[Ty::Str])),
                    ("connection", S::Type(&[Ty::Str])),
                    ("vault_id", S::Type(&[Ty::Str])),
                    ("vault_password_file", S::Type(&[Ty::Str])),
                    ("verify_commit", S::Type(&[Ty::Bool])),
                    ("inventory", S::Type(&[Ty::Str])),
                    ("module_name", S::Type(&[Ty::Str])),
                    ("sleep", S::Type(&[Ty::Str])),
                    ("tags", S::Type(&[Ty::Str])),
                    ("skip_tags", S::Type(&[Ty::Str])),
                    ("playbook_name", S::Type(&[Ty::Str])),
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

/// `apk_repos` (cc_apk_configure).
pub(crate) const APK_REPOS: S = S::Object {
    props: &[
        ("preserve_repositories", S::Type(&[Ty::Bool])),
        (
            "alpine_repo",
            S::All(&[
                S::Type(&[Ty::Object, Ty::Null]),
                S::Only(
                    Ty::Object,
                    &S::Object {
                        props: &[
                            ("base_url", S::Type(&[Ty::Str])),
                            ("community_enabled", S::Type(&[Ty::Bool])),
                            ("testing_enabled", S::Type(&[Ty::Bool])),
                            ("version", S::Type(&[Ty::Str])),
                        ],
                        required: &["version"],
                        extra: Extra::Deny,
                        min_props: 1,
                    },
                ),
            ]),
        ),
        ("local_repo_base_url", S::Type(&[Ty::Str])),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

/// `apt_pipelining` (cc_apt_pipelining).
/// cloud-init 22.4's schema differs (`oneOf.2.enum`, `oneOf.2.oneOf`); this follows 25.
pub(crate) const APT_PIPELINING: S = S::OneOf(&[
    S::Type(&[Ty::Int]),
    S::Type(&[Ty::Bool]),
    S::All(&[
        S::Type(&[Ty::Str]),
        S::OneOf(&[
            S::Enum(&[Lit::Str("os")]),
            S::Deprecated(
                &S::Enum(&[Lit::Str("none"), Lit::Str("unchanged")]),
                "Use os instead.",
            ),
        ]),
    ]),
]);

/// `autoinstall` (cc_ubuntu_autoinstall).
pub(crate) const AUTOINSTALL: S = S::Object {
    props: &[("version", S::Type(&[Ty::Int]))],
    required: &["version"],
    extra: Extra::Allow,
    min_props: 0,
};

/// `byobu_by_default` (cc_byobu).
pub(crate) const BYOBU_BY_DEFAULT: S = S::All(&[
    S::Type(&[Ty::Str]),
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

/// `chef` (cc_chef).
/// cloud-init 22.4's schema differs (`properties.chef_license.enum`, `properties.config_path`); this follows 25.
pub(crate) const CHEF: S = S::Object {
    props: &[
        (
            "directories",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 1,
                max: None,
                unique: true,
            },
        ),
        ("config_path", S::Type(&[Ty::Str])),
        ("validation_cert", S::Type(&[Ty::Str])),
        ("validation_key", S::Type(&[Ty::Str])),
        ("firstboot_path", S::Type(&[Ty::Str])),
        ("exec", S::Type(&[Ty::Bool])),
        ("client_key", S::Type(&[Ty::Str])),
        ("encrypted_data_bag_secret", S::Type(&[Ty::Str])),
        ("environment", S::Type(&[Ty::Str])),
        ("file_backup_path", S::Type(&[Ty::Str])),
        ("file_cache_path", S::Type(&[Ty::Str])),
        ("json_attribs", S::Type(&[Ty::Str])),
        ("log_level", S::Type(&[Ty::Str])),
        ("log_location", S::Type(&[Ty::Str])),
        ("node_name", S::Type(&[Ty::Str])),
        ("omnibus_url", S::Type(&[Ty::Str])),
        ("omnibus_url_retries", S::Type(&[Ty::Int])),
        ("omnibus_version", S::Type(&[Ty::Str])),
        ("pid_file", S::Type(&[Ty::Str])),
        ("server_url", S::Type(&[Ty::Str])),
        ("show_time", S::Type(&[Ty::Bool])),
        ("ssl_verify_mode", S::Type(&[Ty::Str])),
        ("validation_name", S::Type(&[Ty::Str])),
        ("force_install", S::Type(&[Ty::Bool])),
        (
            "initial_attributes",
            S::All(&[
                S::Type(&[Ty::Object]),
                S::Only(
                    Ty::Array,
                    &S::Array {
                        items: &S::Type(&[Ty::Str]),
                        min: 0,
                        max: None,
                        unique: false,
                    },
                ),
            ]),
        ),
        (
            "install_type",
            S::All(&[
                S::Type(&[Ty::Str]),
                S::Enum(&[Lit::Str("packages"), Lit::Str("gems"), Lit::Str("omnibus")]),
            ]),
        ),
        (
            "run_list",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        (
            "chef_license",
            S::All(&[
                S::Type(&[Ty::Str]),
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

/// `device_aliases` (cc_disk_setup).
pub(crate) const DEVICE_ALIASES: S = S::Object {
    props: &[],
    required: &[],
    extra: Extra::Named(is_non_empty, "^.+$", &S::Type(&[Ty::Str])),
    min_props: 0,
};

/// `disk_setup` (cc_disk_setup).
/// cloud-init 22.4's schema differs (`patternProperties.^.+$.properties.layout.oneOf.2.items.oneOf.1.items.type`, `patternProperties.^.+$.properties.layout.oneOf.2.items.oneOf.1.items.anyOf`); this follows 25.
pub(crate) const DISK_SETUP: S = S::Object {
    props: &[],
    required: &[],
    extra: Extra::Named(
        is_non_empty,
        "^.+$",
        &S::Object {
            props: &[
                (
                    "table_type",
                    S::All(&[
                        S::Type(&[Ty::Str]),
                        S::Enum(&[Lit::Str("mbr"), Lit::Str("gpt")]),
                    ]),
                ),
                (
                    "layout",
                    S::OneOf(&[
                        S::All(&[S::Type(&[Ty::Str]), S::Enum(&[Lit::Str("remove")])]),
                        S::Type(&[Ty::Bool]),
                        S::Array {
                            items: &S::OneOf(&[
                                S::Type(&[Ty::Int]),
                                S::Array {
                                    items: &S::AnyOf(&[S::Type(&[Ty::Int]), S::Type(&[Ty::Str])]),
                                    min: 2,
                                    max: Some(2),
                                    unique: false,
                                },
                            ]),
                            min: 0,
                            max: None,
                            unique: false,
                        },
                    ]),
                ),
                ("overwrite", S::Type(&[Ty::Bool])),
            ],
            required: &[],
            extra: Extra::Deny,
            min_props: 0,
        },
    ),
    min_props: 0,
};

/// `fs_setup` (cc_disk_setup).
pub(crate) const FS_SETUP: S = S::Array {
    items: &S::Object {
        props: &[
            ("label", S::Type(&[Ty::Str])),
            ("filesystem", S::Type(&[Ty::Str])),
            ("device", S::Type(&[Ty::Str])),
            (
                "partition",
                S::All(&[
                    S::Type(&[Ty::Str, Ty::Int]),
                    S::OneOf(&[S::All(&[
                        S::Type(&[Ty::Str]),
                        S::Enum(&[Lit::Str("auto"), Lit::Str("any"), Lit::Str("none")]),
                    ])]),
                ]),
            ),
            ("overwrite", S::Type(&[Ty::Bool])),
            ("replace_fs", S::Type(&[Ty::Str])),
            (
                "extra_opts",
                S::All(&[
                    S::Type(&[Ty::Array, Ty::Str]),
                    S::Only(
                        Ty::Array,
                        &S::Array {
                            items: &S::Type(&[Ty::Str]),
                            min: 0,
                            max: None,
                            unique: false,
                        },
                    ),
                ]),
            ),
            (
                "cmd",
                S::All(&[
                    S::Type(&[Ty::Array, Ty::Str]),
                    S::Only(
                        Ty::Array,
                        &S::Array {
                            items: &S::Type(&[Ty::Str]),
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
    },
    min: 0,
    max: None,
    unique: false,
};

/// `fan` (cc_fan).
pub(crate) const FAN: S = S::Object {
    props: &[
        ("config", S::Type(&[Ty::Str])),
        ("config_path", S::Type(&[Ty::Str])),
    ],
    required: &["config"],
    extra: Extra::Deny,
    min_props: 0,
};

/// `grub_dpkg` (cc_grub_dpkg).
/// cloud-init 22.4's schema differs (`properties.grub-pc/install_devices_empty.oneOf.1.deprecated`, `properties.grub-efi/install_devices`); this follows 25.
pub(crate) const GRUB_DPKG: S = S::Object {
    props: &[
        ("enabled", S::Type(&[Ty::Bool])),
        ("grub-pc/install_devices", S::Type(&[Ty::Str])),
        (
            "grub-pc/install_devices_empty",
            S::OneOf(&[S::Type(&[Ty::Bool]), S::Type(&[Ty::Str])]),
        ),
        ("grub-efi/install_devices", S::Type(&[Ty::Str])),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `grub-dpkg` (cc_grub_dpkg).
pub(crate) const GRUB_DPKG_HYPHENATED: S =
    S::Deprecated(&S::Type(&[Ty::Object]), "Use grub_dpkg instead.");

/// `updates` (cc_install_hotplug).
pub(crate) const UPDATES: S = S::Object {
    props: &[(
        "network",
        S::Object {
            props: &[(
                "when",
                S::Array {
                    items: &S::All(&[
                        S::Type(&[Ty::Str]),
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
        ("layout", S::Type(&[Ty::Str])),
        ("model", S::Type(&[Ty::Str])),
        ("variant", S::Type(&[Ty::Str])),
        ("options", S::Type(&[Ty::Str])),
    ],
    required: &["layout"],
    extra: Extra::Deny,
    min_props: 0,
};

/// `landscape` (cc_landscape).
/// cloud-init 22.4's schema differs (`properties.client.required`); this follows 25.
pub(crate) const LANDSCAPE: S = S::Object {
    props: &[(
        "client",
        S::Object {
            props: &[
                ("url", S::Type(&[Ty::Str])),
                ("ping_url", S::Type(&[Ty::Str])),
                ("data_path", S::Type(&[Ty::Str])),
                (
                    "log_level",
                    S::All(&[
                        S::Type(&[Ty::Str]),
                        S::Enum(&[
                            Lit::Str("debug"),
                            Lit::Str("info"),
                            Lit::Str("warning"),
                            Lit::Str("error"),
                            Lit::Str("critical"),
                        ]),
                    ]),
                ),
                ("computer_title", S::Type(&[Ty::Str])),
                ("account_name", S::Type(&[Ty::Str])),
                ("registration_key", S::Type(&[Ty::Str])),
                (
                    "tags",
                    S::All(&[
                        S::Type(&[Ty::Str]),
                        S::Only(
                            Ty::Str,
                            &S::Pattern(is_name_list, "^[-_0-9a-zA-Z]+(,[-_0-9a-zA-Z]+)*$"),
                        ),
                    ]),
                ),
                ("http_proxy", S::Type(&[Ty::Str])),
                ("https_proxy", S::Type(&[Ty::Str])),
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

/// `lxd` (cc_lxd).
pub(crate) const LXD: S = S::Object {
    props: &[
        (
            "init",
            S::Object {
                props: &[
                    ("network_address", S::Type(&[Ty::Str])),
                    ("network_port", S::Type(&[Ty::Int])),
                    (
                        "storage_backend",
                        S::All(&[
                            S::Type(&[Ty::Str]),
                            S::Enum(&[
                                Lit::Str("zfs"),
                                Lit::Str("dir"),
                                Lit::Str("lvm"),
                                Lit::Str("btrfs"),
                            ]),
                        ]),
                    ),
                    ("storage_create_device", S::Type(&[Ty::Str])),
                    ("storage_create_loop", S::Type(&[Ty::Int])),
                    ("storage_pool", S::Type(&[Ty::Str])),
                    ("trust_password", S::Type(&[Ty::Str])),
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
                            S::Type(&[Ty::Str]),
                            S::Enum(&[Lit::Str("none"), Lit::Str("existing"), Lit::Str("new")]),
                        ]),
                    ),
                    ("name", S::Type(&[Ty::Str])),
                    ("mtu", S::All(&[S::Type(&[Ty::Int]), S::Min(-1)])),
                    ("ipv4_address", S::Type(&[Ty::Str])),
                    ("ipv4_netmask", S::Type(&[Ty::Int])),
                    ("ipv4_dhcp_first", S::Type(&[Ty::Str])),
                    ("ipv4_dhcp_last", S::Type(&[Ty::Str])),
                    ("ipv4_dhcp_leases", S::Type(&[Ty::Int])),
                    ("ipv4_nat", S::Type(&[Ty::Bool])),
                    ("ipv6_address", S::Type(&[Ty::Str])),
                    ("ipv6_netmask", S::Type(&[Ty::Int])),
                    ("ipv6_nat", S::Type(&[Ty::Bool])),
                    ("domain", S::Type(&[Ty::Str])),
                ],
                required: &["mode"],
                extra: Extra::Deny,
                min_props: 0,
            },
        ),
        ("preseed", S::Type(&[Ty::Str])),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

/// `mcollective` (cc_mcollective).
pub(crate) const MCOLLECTIVE: S = S::Object {
    props: &[(
        "conf",
        S::Object {
            props: &[
                ("public-cert", S::Type(&[Ty::Str])),
                ("private-cert", S::Type(&[Ty::Str])),
            ],
            required: &[],
            extra: Extra::Named(
                is_non_empty,
                "^.+$",
                &S::OneOf(&[
                    S::Type(&[Ty::Bool]),
                    S::Type(&[Ty::Int]),
                    S::Type(&[Ty::Str]),
                ]),
            ),
            min_props: 0,
        },
    )],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `phone_home` (cc_phone_home).
/// cloud-init 22.4's schema differs (`properties.post.oneOf.1.items.enum`); this follows 25.
pub(crate) const PHONE_HOME: S = S::Object {
    props: &[
        ("url", S::Type(&[Ty::Str])),
        (
            "post",
            S::OneOf(&[
                S::Enum(&[Lit::Str("all")]),
                S::Array {
                    items: &S::All(&[
                        S::Type(&[Ty::Str]),
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
        ("tries", S::Type(&[Ty::Int])),
    ],
    required: &["url"],
    extra: Extra::Deny,
    min_props: 0,
};

/// `puppet` (cc_puppet).
pub(crate) const PUPPET: S = S::Object {
    props: &[
        ("install", S::Type(&[Ty::Bool])),
        ("version", S::Type(&[Ty::Str])),
        (
            "install_type",
            S::All(&[
                S::Type(&[Ty::Str]),
                S::Enum(&[Lit::Str("packages"), Lit::Str("aio")]),
            ]),
        ),
        ("collection", S::Type(&[Ty::Str])),
        ("aio_install_url", S::Type(&[Ty::Str])),
        ("cleanup", S::Type(&[Ty::Bool])),
        ("conf_file", S::Type(&[Ty::Str])),
        ("ssl_dir", S::Type(&[Ty::Str])),
        ("csr_attributes_path", S::Type(&[Ty::Str])),
        ("package_name", S::Type(&[Ty::Str])),
        ("exec", S::Type(&[Ty::Bool])),
        (
            "exec_args",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        ("start_service", S::Type(&[Ty::Bool])),
        (
            "conf",
            S::Object {
                props: &[
                    ("main", S::Type(&[Ty::Object])),
                    ("server", S::Type(&[Ty::Object])),
                    ("agent", S::Type(&[Ty::Object])),
                    ("user", S::Type(&[Ty::Object])),
                    ("ca_cert", S::Type(&[Ty::Str])),
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
                    ("custom_attributes", S::Type(&[Ty::Object])),
                    ("extension_requests", S::Type(&[Ty::Object])),
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

/// `manage_resolv_conf` (cc_resolv_conf).
pub(crate) const MANAGE_RESOLV_CONF: S = S::Type(&[Ty::Bool]);

/// `resolv_conf` (cc_resolv_conf).
pub(crate) const RESOLV_CONF: S = S::Object {
    props: &[
        ("nameservers", S::Type(&[Ty::Array])),
        ("searchdomains", S::Type(&[Ty::Array])),
        ("domain", S::Type(&[Ty::Str])),
        ("sortlist", S::Type(&[Ty::Array])),
        ("options", S::Type(&[Ty::Object])),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `rh_subscription` (cc_rh_subscription).
/// cloud-init 22.4's schema differs (`properties.org.type`, `properties.org.oneOf`); this follows 25.
pub(crate) const RH_SUBSCRIPTION: S = S::Object {
    props: &[
        ("username", S::Type(&[Ty::Str])),
        ("password", S::Type(&[Ty::Str])),
        ("activation-key", S::Type(&[Ty::Str])),
        (
            "org",
            S::OneOf(&[
                S::Type(&[Ty::Str]),
                S::Deprecated(
                    &S::Type(&[Ty::Int]),
                    "Use of type integer for this value is deprecated. Use a string instead.",
                ),
            ]),
        ),
        ("auto-attach", S::Type(&[Ty::Bool])),
        ("service-level", S::Type(&[Ty::Str])),
        (
            "add-pool",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        (
            "enable-repo",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        (
            "disable-repo",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        ("rhsm-baseurl", S::Type(&[Ty::Str])),
        ("server-hostname", S::Type(&[Ty::Str])),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `rsyslog` (cc_rsyslog).
/// cloud-init 22.4's schema differs (`properties.install_rsyslog`, `properties.check_exe`, `properties.packages`); this follows 25.
pub(crate) const RSYSLOG: S = S::Object {
    props: &[
        ("config_dir", S::Type(&[Ty::Str])),
        ("config_filename", S::Type(&[Ty::Str])),
        (
            "configs",
            S::Array {
                items: &S::OneOf(&[
                    S::Type(&[Ty::Str]),
                    S::Object {
                        props: &[
                            ("filename", S::Type(&[Ty::Str])),
                            ("content", S::Type(&[Ty::Str])),
                        ],
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
        ("remotes", S::Type(&[Ty::Object])),
        (
            "service_reload_command",
            S::OneOf(&[
                S::Enum(&[Lit::Str("auto")]),
                S::Array {
                    items: &S::Type(&[Ty::Str]),
                    min: 0,
                    max: None,
                    unique: false,
                },
            ]),
        ),
        ("install_rsyslog", S::Type(&[Ty::Bool])),
        ("check_exe", S::Type(&[Ty::Str])),
        (
            "packages",
            S::Array {
                items: &S::Type(&[Ty::Str]),
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

/// `salt_minion` (cc_salt_minion).
pub(crate) const SALT_MINION: S = S::Object {
    props: &[
        ("pkg_name", S::Type(&[Ty::Str])),
        ("service_name", S::Type(&[Ty::Str])),
        ("config_dir", S::Type(&[Ty::Str])),
        ("conf", S::Type(&[Ty::Object])),
        ("grains", S::Type(&[Ty::Object])),
        ("public_key", S::Type(&[Ty::Str])),
        ("private_key", S::Type(&[Ty::Str])),
        ("pki_dir", S::Type(&[Ty::Str])),
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
                S::Type(&[Ty::Bool]),
                S::Deprecated(
                    &S::Type(&[Ty::Str]),
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
        ("file", S::Type(&[Ty::Str])),
        ("data", S::Type(&[Ty::Str])),
        (
            "encoding",
            S::All(&[
                S::Type(&[Ty::Str]),
                S::Enum(&[
                    Lit::Str("raw"),
                    Lit::Str("base64"),
                    Lit::Str("b64"),
                    Lit::Str("gzip"),
                    Lit::Str("gz"),
                ]),
            ]),
        ),
        (
            "command",
            S::Array {
                items: &S::Type(&[Ty::Str]),
                min: 0,
                max: None,
                unique: false,
            },
        ),
        ("command_required", S::Type(&[Ty::Bool])),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `snap` (cc_snap).
pub(crate) const SNAP: S = S::Object {
    props: &[
        (
            "assertions",
            S::All(&[
                S::Type(&[Ty::Object, Ty::Array]),
                S::Only(
                    Ty::Array,
                    &S::Array {
                        items: &S::Type(&[Ty::Str]),
                        min: 1,
                        max: None,
                        unique: true,
                    },
                ),
                S::Only(
                    Ty::Object,
                    &S::Object {
                        props: &[],
                        required: &[],
                        extra: Extra::Each(&S::Type(&[Ty::Str])),
                        min_props: 1,
                    },
                ),
            ]),
        ),
        (
            "commands",
            S::All(&[
                S::Type(&[Ty::Object, Ty::Array]),
                S::Only(
                    Ty::Array,
                    &S::Array {
                        items: &S::OneOf(&[
                            S::Type(&[Ty::Str]),
                            S::Array {
                                items: &S::Type(&[Ty::Str]),
                                min: 0,
                                max: None,
                                unique: false,
                            },
                        ]),
                        min: 1,
                        max: None,
                        unique: false,
                    },
                ),
                S::Only(
                    Ty::Object,
                    &S::Object {
                        props: &[],
                        required: &[],
                        extra: Extra::Each(&S::OneOf(&[
                            S::Type(&[Ty::Str]),
                            S::Array {
                                items: &S::Type(&[Ty::Str]),
                                min: 0,
                                max: None,
                                unique: false,
                            },
                        ])),
                        min_props: 1,
                    },
                ),
            ]),
        ),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

/// `spacewalk` (cc_spacewalk).
pub(crate) const SPACEWALK: S = S::Object {
    props: &[
        ("server", S::Type(&[Ty::Str])),
        ("proxy", S::Type(&[Ty::Str])),
        ("activation_key", S::Type(&[Ty::Str])),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `no_ssh_fingerprints` (cc_ssh_authkey_fingerprints).
pub(crate) const NO_SSH_FINGERPRINTS: S = S::Type(&[Ty::Bool]);

/// `authkey_hash` (cc_ssh_authkey_fingerprints).
pub(crate) const AUTHKEY_HASH: S = S::Type(&[Ty::Str]);

/// `drivers` (cc_ubuntu_drivers).
pub(crate) const DRIVERS: S = S::Object {
    props: &[(
        "nvidia",
        S::Object {
            props: &[
                ("license-accepted", S::Type(&[Ty::Bool])),
                ("version", S::Type(&[Ty::Str])),
            ],
            required: &["license-accepted"],
            extra: Extra::Deny,
            min_props: 0,
        },
    )],
    required: &[],
    extra: Extra::Deny,
    min_props: 0,
};

/// `ubuntu_pro` (cc_ubuntu_pro).
/// Not in cloud-init 22.4's schema (22.4 accepts it unchecked); this follows 25.
pub(crate) const UBUNTU_PRO: S = UBUNTU_PRO_PROPERTIES;

/// `ubuntu_advantage` (cc_ubuntu_pro).
pub(crate) const UBUNTU_ADVANTAGE: S =
    S::Deprecated(&UBUNTU_PRO_PROPERTIES, "Use ubuntu_pro instead.");

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
                            props: &[
                                ("name", S::Type(&[Ty::Str])),
                                ("config_path", S::Type(&[Ty::Str])),
                                ("content", S::Type(&[Ty::Str])),
                            ],
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
                        items: &S::Type(&[Ty::Str]),
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

/// `zypper` (cc_zypper_add_repo).
pub(crate) const ZYPPER: S = S::Object {
    props: &[
        (
            "repos",
            S::Array {
                items: &S::Object {
                    props: &[
                        ("id", S::Type(&[Ty::Str])),
                        ("baseurl", S::Type(&[Ty::Str])),
                    ],
                    required: &["id", "baseurl"],
                    extra: Extra::Allow,
                    min_props: 0,
                },
                min: 1,
                max: None,
                unique: false,
            },
        ),
        ("config", S::Type(&[Ty::Object])),
    ],
    required: &[],
    extra: Extra::Allow,
    min_props: 1,
};

/// `reporting` (reporting).
pub(crate) const REPORTING: S = S::Object {
    props: &[],
    required: &[],
    extra: Extra::Named(
        is_non_empty,
        "^.+$",
        &S::All(&[
            S::Type(&[Ty::Object]),
            S::OneOf(&[
                S::Only(
                    Ty::Object,
                    &S::Object {
                        props: &[
                            (
                                "type",
                                S::All(&[S::Type(&[Ty::Str]), S::Enum(&[Lit::Str("log")])]),
                            ),
                            (
                                "level",
                                S::All(&[
                                    S::Type(&[Ty::Str]),
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
                S::Only(
                    Ty::Object,
                    &S::Object {
                        props: &[(
                            "type",
                            S::All(&[S::Type(&[Ty::Str]), S::Enum(&[Lit::Str("print")])]),
                        )],
                        required: &["type"],
                        extra: Extra::Deny,
                        min_props: 0,
                    },
                ),
                S::Only(
                    Ty::Object,
                    &S::Object {
                        props: &[
                            (
                                "type",
                                S::All(&[S::Type(&[Ty::Str]), S::Enum(&[Lit::Str("webhook")])]),
                            ),
                            ("endpoint", S::Type(&[Ty::Str])),
                            ("consumer_key", S::Type(&[Ty::Str])),
                            ("token_key", S::Type(&[Ty::Str])),
                            ("token_secret", S::Type(&[Ty::Str])),
                            ("consumer_secret", S::Type(&[Ty::Str])),
                            ("timeout", S::All(&[S::Type(&[Ty::Number]), S::Min(0)])),
                            ("retries", S::All(&[S::Type(&[Ty::Int]), S::Min(0)])),
                        ],
                        required: &["type", "endpoint"],
                        extra: Extra::Deny,
                        min_props: 0,
                    },
                ),
                S::Only(
                    Ty::Object,
                    &S::Object {
                        props: &[
                            (
                                "type",
                                S::All(&[S::Type(&[Ty::Str]), S::Enum(&[Lit::Str("hyperv")])]),
                            ),
                            ("kvp_file_path", S::Type(&[Ty::Str])),
                            (
                                "event_types",
                                S::Array {
                                    items: &S::Type(&[Ty::Str]),
                                    min: 0,
                                    max: None,
                                    unique: false,
                                },
                            ),
                        ],
                        required: &["type"],
                        extra: Extra::Deny,
                        min_props: 0,
                    },
                ),
            ]),
        ]),
    ),
    min_props: 0,
};
