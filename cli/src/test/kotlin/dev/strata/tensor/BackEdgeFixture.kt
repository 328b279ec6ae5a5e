package dev.strata.tensor

import dev.strata.worker.Worker

/** A deliberate back edge (a tensor class naming the Worker facade) that LayersSpec's check must report. */
internal class BackEdgeFixture(val worker: Worker)
