//! Disks: partitions and file systems (`cc_disk_setup`). strap runs this module
//! (`boot::modules::disk::disk_setup`); its keys are in the `RUN` table, their schema
//! stays here beside the other definitions written from cloud-init 25's schema.

use super::super::eval::{Extra, Lit, Ty, S};
use super::{is_non_empty, BOOL, INT, STR, STRINGS};

/// `device_aliases` (cc_disk_setup).
pub(crate) const DEVICE_ALIASES: S = S::Object {
    props: &[],
    required: &[],
    extra: Extra::Named(is_non_empty, "^.+$", &STR),
    min_props: 0,
};

/// `disk_setup` (cc_disk_setup).
/// cloud-init 25 differs from 22.4 here, and strap follows 25: a `[size, type]` layout
/// entry may hold text as well as integers (22.4: integers).
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
                    S::All(&[STR, S::Enum(&[Lit::Str("mbr"), Lit::Str("gpt")])]),
                ),
                (
                    "layout",
                    S::OneOf(&[
                        S::All(&[STR, S::Enum(&[Lit::Str("remove")])]),
                        BOOL,
                        S::Array {
                            items: &S::OneOf(&[
                                INT,
                                S::Array {
                                    items: &S::AnyOf(&[INT, STR]),
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
                ("overwrite", BOOL),
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
            ("label", STR),
            ("filesystem", STR),
            ("device", STR),
            (
                "partition",
                S::All(&[
                    S::Type(&[Ty::Str, Ty::Int]),
                    S::OneOf(&[S::All(&[
                        STR,
                        S::Enum(&[Lit::Str("auto"), Lit::Str("any"), Lit::Str("none")]),
                    ])]),
                ]),
            ),
            ("overwrite", BOOL),
            ("replace_fs", STR),
            (
                "extra_opts",
                S::All(&[S::Type(&[Ty::Array, Ty::Str]), S::Only(Ty::Array, &STRINGS)]),
            ),
            (
                "cmd",
                S::All(&[S::Type(&[Ty::Array, Ty::Str]), S::Only(Ty::Array, &STRINGS)]),
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
