//! The workflow domain: tickets, the working-day calendar and deadline policy. Sans-IO: the
//! current time is always an argument.
