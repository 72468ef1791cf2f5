//! Call control: queues, agents, bridging, transfers. Sans-IO: it takes events and the current
//! time, and returns commands for the SIP and media layers.
