package dev.strata.bench

import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import org.HdrHistogram.Histogram

/**
 * One flat JSON object from [fields] (strings, numbers, booleans; anything else as its text), through
 * kotlinx-serialization: a bench's output line. A non-finite number is `null` (JSON has no NaN).
 */
internal fun json(fields: Map<String, Any>): String = Json.encodeToString(JsonObject.serializer(), JsonObject(fields.mapValues { (_, v) -> jsonValue(v) }))

private fun jsonValue(v: Any): JsonElement = when (v) {
    is Double -> if (v.isFinite()) JsonPrimitive(v) else JsonNull
    is Float -> if (v.isFinite()) JsonPrimitive(v) else JsonNull
    is Number -> JsonPrimitive(v)
    is Boolean -> JsonPrimitive(v)
    else -> JsonPrimitive(v.toString())
}

/**
 * Latency samples in nanoseconds, kept in an HdrHistogram (3 significant digits: a percentile is within
 * 0.1 % of the sample it stands for), so percentiles, the minimum and the mean come from one well-kept
 * implementation instead of sorting arrays.
 */
internal class Latencies {
    private val histogram = Histogram(3)

    /** Records one sample of [nanos] (at least 1 ns). */
    fun record(nanos: Long) {
        histogram.recordValue(maxOf(1L, nanos))
    }

    /** Samples recorded. */
    val count: Long get() = histogram.totalCount

    /** The value at or below which [p] (0..1) of the samples lie; 0 without samples. */
    fun percentile(p: Double): Long = if (count == 0L) 0 else histogram.getValueAtPercentile(p * 100)

    val min: Long get() = if (count == 0L) 0 else histogram.minValue
    val mean: Double get() = if (count == 0L) 0.0 else histogram.mean

    companion object {
        /** [samples] (nanoseconds) as latencies. */
        fun of(samples: LongArray): Latencies = Latencies().also { l -> samples.forEach { l.record(it) } }
    }
}
