import FlotillaEngine
import Foundation
import Hummingbird

/// An error answered as `{"error": "…"}` with its status (and `"known_fleets": […]` when it is about a fleet).
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields
    /// The fleets the control store knows, for an error about a fleet it does not.
    public var knownFleets: [String]?

    public init(
        _ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:], knownFleets: [String]? = nil
    ) {
        self.status = status
        self.message = message
        self.headers = headers
        self.knownFleets = knownFleets
    }

    public var description: String { "\(status.code) \(message)" }

    struct Body: Encodable {
        var error: String
        var knownFleets: [String]?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try Response.json(Body(error: message, knownFleets: knownFleets), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}

extension Response {
    /// JSON as `flotilla status --format json` writes it: sorted keys, snake_case, ISO 8601 dates.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        var data = try Reports.encoder.encode(value)
        data.append(0x0A)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func text(
        _ text: String, status: HTTPResponse.Status = .ok, contentType: String = "text/plain; charset=utf-8"
    )
        -> Response
    {
        Response(
            status: status, headers: [.contentType: contentType, .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The documents of `flotilla status --format json`.
public enum Reports {
    /// Without a rollout id: the active halts and the recent rollouts.
    public struct Overview: Encodable, Sendable {
        public var halts: [HaltRecord]
        public var rollouts: [ControlStore.RolloutRecord]

        public init(halts: [HaltRecord], rollouts: [ControlStore.RolloutRecord]) {
            self.halts = halts
            self.rollouts = rollouts
        }
    }

    /// One rollout: its steps, events and checks, and its tenant set against the fleet's of now.
    public struct Document: Encodable, Sendable {
        public var rollout: ControlStore.RolloutRecord
        public var steps: [ControlStore.StepRecord]
        public var events: [ControlStore.EventRecord]
        public var checks: [CheckSection]
        /// Nil for a rollout from before the journal kept its tenant set.
        public var tenants: TenantSet?
        /// Shards where no new step starts now (the throttle), while the rollout has not finished.
        public var throttled: [ControlStore.ThrottledShard] = []

        public init(
            rollout: ControlStore.RolloutRecord, steps: [ControlStore.StepRecord], events: [ControlStore.EventRecord],
            checks: [CheckSection], tenants: TenantSet? = nil
        ) {
            self.rollout = rollout
            self.steps = steps
            self.events = events
            self.checks = checks
            self.tenants = tenants
        }
    }

    /// The tenants a rollout started with (its snapshot), and those of the fleet now that it lacks.
    public struct TenantSet: Encodable, Sendable, Hashable {
        /// How many tenants the rollout started with.
        public var started: Int
        /// How many tenants of the fleet now are not in the rollout's set; nil when the fleet's definitions were not
        /// at hand (the HTTP API, or `status` run away from the fleet's folder).
        public var appeared: Int?
        /// The first 20 of those, in the fleet's order.
        public var appearedTenants: [String]?
        /// "N tenants appeared since the rollout started — `flotilla converge` brings them up", when some did.
        public var note: String?

        public init(started: Int, appeared: [String]?) {
            self.started = started
            self.appeared = appeared?.count
            appearedTenants = appeared.map { Array($0.prefix(20)) }
            if let appeared, !appeared.isEmpty {
                note =
                    "\(appeared.count) tenant\(appeared.count == 1 ? "" : "s") appeared since the rollout started — `flotilla converge` brings them up"
            }
        }
    }

    /// The tenant set of rollout `id` against `current` (the fleet's tenant ids now, when known); nil for a rollout
    /// without a snapshot.
    public static func tenantSet(_ id: String, store: ControlStore, current: [String]?) async throws -> TenantSet? {
        let started = try await store.tenantSnapshotCount(id)
        guard started > 0 else { return nil }
        guard let current else { return TenantSet(started: started, appeared: nil) }
        let appeared = try await store.tenantsNotInSnapshot(id, ids: current)
        return TenantSet(started: started, appeared: appeared)
    }

    /// One health check of a rollout: its verdict in each wave, and its newest measurements.
    public struct CheckSection: Encodable, Sendable {
        public var name: String
        public var kind: String
        public var scope: String
        public var counts: [String: Int]
        public var verdicts: [ControlStore.CheckVerdictRecord]
        public var recent: [ControlStore.MeasurementRecord]
    }

    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }

    /// The document of rollout `id`, or nil when there is no such rollout. `currentTenants` gives the tenant ids of
    /// a fleet now, by the fleet's name, when its definitions are at hand.
    public static func document(
        _ id: String, store: ControlStore,
        currentTenants: @Sendable (_ fleet: String) async -> [String]? = { _ in nil }
    ) async throws -> Document? {
        guard let record = try await store.rollout(id: id) else { return nil }
        let steps = try await store.steps(id)
        let events = try await store.events(id)
        let checks = try await checks(id, store: store)
        let tenants = try await tenantSet(id, store: store, current: await currentTenants(record.fleet))
        var document = Document(rollout: record, steps: steps, events: events, checks: checks, tenants: tenants)
        if !record.state.isFinished { document.throttled = try await store.throttledShards(id) }
        return document
    }

    /// The checks of a rollout, in the order they were first measured.
    public static func checks(_ rollout: String, store: ControlStore, recent: Int = 5) async throws -> [CheckSection] {
        let verdicts = try await store.checkVerdicts(rollout)
        let measurements = try await store.recentMeasurements(rollout, perCheck: recent)
        let counts = try await store.measurementCounts(rollout)
        var names: [String] = []
        for name in verdicts.map(\.check) + measurements.map(\.measurement.check) where !names.contains(name) {
            names.append(name)
        }
        return names.map { name in
            let mine = verdicts.filter { $0.check == name }
            let latest = measurements.filter { $0.measurement.check == name }
            return CheckSection(
                name: name, kind: mine.first?.kind ?? latest.first?.measurement.kind ?? "?",
                scope: mine.first?.scope ?? latest.first?.measurement.scope ?? "?", counts: counts[name] ?? [:],
                verdicts: mine, recent: latest)
        }
    }
}
