//! Package sources and snaps: apk, apt pipelining, snap, zypper, Ubuntu drivers and
//! Ubuntu Pro.

use super::super::eval::{Extra, Lit, Ty, S};
use super::{BOOL, INT, OBJECT, STR, STRINGS};

/// The settings of `ubuntu_pro` (and the deprecated `ubuntu_advantage`).
const UBUNTU_PRO_PROPERTIES: S = S::Object {
    props: &[
        ("enable", STRINGS),
        ("enable_beta", STRINGS),
        ("token", STR),
        (
            "features",
            S::Object {
                props: &[("disable_auto_attach", BOOL)],
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

/// `apk_repos` (cc_apk_configure).
pub(crate) const APK_REPOS: S = S::Object {
    props: &[
        ("preserve_repositories", BOOL),
        (
            "alpine_repo",
            S::All(&[
                S::Type(&[Ty::Object, Ty::Null]),
                S::Only(
                    Ty::Object,
                    &S::Object {
                        props: &[
                            ("base_url", STR),
                            ("community_enabled", BOOL),
                            ("testing_enabled", BOOL),
                            ("version", STR),
                        ],
                        required: &["version"],
                        extra: Extra::Deny,
                        min_props: 1,
                    },
                ),
            ]),
        ),
        ("local_repo_base_url", STR),
    ],
    required: &[],
    extra: Extra::Deny,
    min_props: 1,
};

/// `apt_pipelining` (cc_apt_pipelining).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: `none` and `unchanged` are
/// deprecated in favour of `os` (22.4: all three plain).
pub(crate) const APT_PIPELINING: S = S::OneOf(&[
    INT,
    BOOL,
    S::All(&[
        STR,
        S::OneOf(&[
            S::Enum(&[Lit::Str("os")]),
            S::Deprecated(
                &S::Enum(&[Lit::Str("none"), Lit::Str("unchanged")]),
                "Use os instead.",
            ),
        ]),
    ]),
]);

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
                        items: &STR,
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
                        extra: Extra::Each(&STR),
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
                        items: &S::OneOf(&[STR, STRINGS]),
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
                        extra: Extra::Each(&S::OneOf(&[STR, STRINGS])),
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

/// `drivers` (cc_ubuntu_drivers).
pub(crate) const DRIVERS: S = S::Object {
    props: &[(
        "nvidia",
        S::Object {
            props: &[("license-accepted", BOOL), ("version", STR)],
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

/// `zypper` (cc_zypper_add_repo).
pub(crate) const ZYPPER: S = S::Object {
    props: &[
        (
            "repos",
            S::Array {
                items: &S::Object {
                    props: &[("id", STR), ("baseurl", STR)],
                    required: &["id", "baseurl"],
                    extra: Extra::Allow,
                    min_props: 0,
                },
                min: 1,
                max: None,
                unique: false,
            },
        ),
        ("config", OBJECT),
    ],
    required: &[],
    extra: Extra::Allow,
    min_props: 1,
};
