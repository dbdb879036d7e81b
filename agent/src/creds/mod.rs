//! The AWS credential provider chain, resolved as the SDKs resolve it, and explained.
//! (Skeleton.)
