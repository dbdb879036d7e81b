//! The boot: stages in cloud-init's order, modules, frequencies and semaphores, state,
//! logs and status records. (Skeleton.)
