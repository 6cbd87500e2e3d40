extension BatchSizing {
    /// The keys that size a backfill's batches, in a phase's `backfill:` and in a pattern's parameters.
    static let keys = ["batch_size", "target_batch_time", "min_batch", "max_batch"]

    /// The values of ``keys`` in `object`, each nil when not given, problems reported at their place: a
    /// `target_batch_time` of zero, `min_batch` above `max_batch`, a `batch_size` outside them.
    struct Given {
        var batchSize: Int?
        var minimum: Int?
        var maximum: Int?
        var target: Duration?

        /// The sizing they describe; its `first` is the `batch_size` a ``Backfill`` keeps.
        var sizing: BatchSizing {
            BatchSizing(batchSize: batchSize, minimum: minimum, maximum: maximum, target: target)
        }
    }

    static func decode(_ object: ObjectReader) -> Given {
        let reader = object.reader
        var given = Given(
            batchSize: object.int("batch_size", min: 1, max: 1_000_000),
            minimum: object.int("min_batch", min: 1, max: 1_000_000),
            maximum: object.int("max_batch", min: 1, max: 1_000_000), target: object.duration("target_batch_time"))
        if let target = given.target, target <= .zero {
            reader.error(
                at: object.location("target_batch_time"), object.at("target_batch_time"),
                "target_batch_time must be above zero, e.g. 50ms")
            given.target = nil
        }
        let minimum = given.minimum ?? given.sizing.minimum
        let maximum = given.maximum ?? (given.target == nil ? given.batchSize ?? 1000 : defaultMaximum)
        if minimum > maximum {
            let key = given.minimum != nil ? "min_batch" : "max_batch"
            let bound = given.maximum == nil && given.target == nil ? "batch_size" : "max_batch"
            let implied = given.minimum == nil ? " (its default)" : ""
            reader.error(
                at: object.location(key), object.at(key), "min_batch \(minimum)\(implied) is above \(bound) \(maximum)")
        } else if let size = given.batchSize, size < minimum || size > maximum {
            reader.error(
                at: object.location("batch_size"), object.at("batch_size"),
                "batch_size \(size) (the first batch's size) is outside min_batch…max_batch (\(minimum)…\(maximum))")
        }
        return given
    }
}
