import FlotillaEngine
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The HTTP API over the control store: JSON under `/api`, `/healthz`, `/metrics`, the journal as Server-Sent Events
/// at `/api/events`, and a dashboard at `/` and `/rollouts/ID`.
///
/// Reads work for everyone who can reach the port. Mutating calls (`POST`) need `Authorization: Bearer TOKEN`; with no
/// token configured they are refused with 403, so a server started without one can only be looked at.
public struct APIServer: Sendable {
    public var store: ControlStore
    public var token: APIToken?
    public var logger: Logger
    /// The one poller of the journal behind every `/api/events` stream; a service of the application.
    public let hub: EventHub

    public init(store: ControlStore, token: APIToken?, logger: Logger, pollInterval: Duration = .milliseconds(300)) {
        self.store = store
        self.token = token
        self.logger = logger
        hub = EventHub(store: store, interval: pollInterval, logger: logger)
    }

    /// How long a halt's answer waits for the running rollouts it stops to say they stopped.
    static let haltWait: Duration = .seconds(5)

    /// The largest request body accepted, in bytes.
    static let maxBodySize = 64 * 1024

    /// The routes, ready for an `Application` (or a test of one).
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let store = self.store
        let token = self.token
        let logger = self.logger
        let hub = self.hub
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: MetricsMiddleware())

        router.get("/healthz") { _, _ -> Response in
            do {
                try await store.ping()
                return .text("ok\n")
            } catch {
                logger.warning("healthz: the control store does not answer: \(String(reflecting: type(of: error)))")
                return .text("control store unavailable\n", status: .serviceUnavailable)
            }
        }
        router.get("/api/rollouts") { _, _ -> Response in
            try await guarded(logger) {
                let rollouts = try await store.rollouts()
                let halts = try await store.activeHalts()
                return try .json(Reports.Overview(halts: halts, rollouts: rollouts))
            }
        }
        router.get("/api/rollouts/:id") { _, context -> Response in
            let id = try context.parameters.require("id")
            return try await guarded(logger) {
                guard let document = try await Reports.document(id, store: store) else {
                    throw APIError(.notFound, "no rollout \(id)")
                }
                return try .json(document)
            }
        }
        router.get("/metrics") { _, _ -> Response in
            try await guarded(logger) { try await Metrics.response(store: store) }
        }
        router.get("/") { request, _ -> Response in
            try await guarded(logger) { try await Dashboard.list(request, store: store) }
        }
        router.get("/rollouts/:id") { request, context -> Response in
            let id = try context.parameters.require("id")
            return try await guarded(logger) { try await Dashboard.rollout(id, request: request, store: store) }
        }
        router.get("/assets/dashboard.js") { _, _ -> Response in
            DashboardAssets.response(DashboardAssets.javaScript, contentType: "text/javascript; charset=utf-8")
        }
        router.get("/assets/dashboard.css") { _, _ -> Response in
            DashboardAssets.response(DashboardAssets.css, contentType: "text/css; charset=utf-8")
        }
        router.get("/api/events") { request, _ -> Response in
            try await EventStream.response(request, hub: hub, store: store, logger: logger)
        }

        router.post("/api/halt") { request, _ -> Response in
            try authorize(request, token: token)
            let body = try await decode(HaltRequest.self, from: request)
            let fleet = try body.target()
            let reason = body.reason?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            guard !reason.isEmpty else { throw APIError(.badRequest, "reason must say why") }
            let by = body.by.flatMap { $0.isEmpty ? nil : $0 } ?? "api"
            return try await guarded(logger) {
                if let fleet, body.force != true {
                    // A misspelt name would halt nothing that runs, and look like a halt that works.
                    let known = try await store.knownFleets()
                    guard known.contains(fleet) else { throw unknownFleet(fleet, known: known) }
                }
                let running = try await store.runningRollouts(fleet: fleet)
                let record = try await store.halt(fleet: fleet, reason: reason, by: by, revert: body.revert ?? false)
                logger.notice("halt recorded: \(record.description)")
                try? await store.recordAudit(
                    AuditEntry(actor: by, via: .api, action: .halt, fleet: fleet, detail: record.reason))
                let stopped = try await HaltResponse.waitForStop(running.map(\.id), store: store, limit: Self.haltWait)
                return try .json(HaltResponse(halt: record, running: running, stopped: stopped))
            }
        }
        router.post("/api/resume") { request, _ -> Response in
            try authorize(request, token: token)
            let body = try await decode(ResumeRequest.self, from: request)
            let fleet = try body.target()
            let by = body.by.flatMap { $0.isEmpty ? nil : $0 } ?? "api"
            return try await guarded(logger) {
                let lifted = try await store.resume(fleet: fleet, by: by)
                let remaining = try await store.activeHalts(fleet: fleet)
                logger.notice("resume: lifted \(lifted) halt(s)")
                try? await store.recordAudit(
                    AuditEntry(actor: by, via: .api, action: .resume, fleet: fleet, detail: "lifted \(lifted) halt(s)"))
                return try .json(ResumeResponse(lifted: lifted, stillActive: remaining))
            }
        }
        router.post("/api/rollouts/:id/approve") { request, context -> Response in
            try authorize(request, token: token)
            let id = try context.parameters.require("id")
            let body = try await decode(ApproveRequest.self, from: request, allowEmpty: true)
            return try await guarded(logger) {
                guard let record = try await store.rollout(id: id) else {
                    throw APIError(.notFound, "no rollout \(id)")
                }
                // A bake paused on inconclusive health waits for its gate PHASE@WAVE; a gated phase for PHASE.
                var waitingAt = record.currentPhase
                if record.state == .paused, let phase = record.currentPhase, let wave = record.currentWave {
                    waitingAt = "\(phase)@\(wave)"
                }
                guard let target = body.phase.flatMap({ $0.isEmpty ? nil : $0 }) ?? waitingAt else {
                    throw APIError(.conflict, "rollout \(id) has no current phase; say which phase")
                }
                _ = try await store.approve(id, phase: target)
                logger.notice("approved phase \(target) of rollout \(id)")
                try? await store.recordAudit(
                    AuditEntry(
                        actor: "api", via: .api, action: .approve, fleet: record.fleet, change: record.change,
                        rollout: id, detail: "phase \(target)"))
                return try .json(ApproveResponse(rollout: id, phase: target))
            }
        }
        return router
    }

    /// The application, listening on `host`:`port`; `onRunning` gets the port it listens on once it does.
    public func application(
        host: String, port: Int, onRunning: @escaping @Sendable (Int?) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "flotilla"),
            services: [hub],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port) },
            logger: logger)
    }
}

extension APIServer {
    /// Serves on `host`:`port` until `stop` returns, then shuts down gracefully: no new connections, requests in
    /// flight answered. `onRunning` gets the port once the server listens.
    public func run(
        host: String, port: Int, onRunning: @escaping @Sendable (Int?) async -> Void = { _ in },
        stop: @escaping @Sendable () async -> Void
    ) async throws {
        Metrics.bootstrap()
        let group = ServiceGroup(
            configuration: .init(services: [application(host: host, port: port, onRunning: onRunning)], logger: logger))
        // Each task says whether it was the server: the server's end, not the stop request's, ends the run.
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                try await group.run()
                return true
            }
            tasks.addTask {
                await stop()
                if !Task.isCancelled { await group.triggerGracefulShutdown() }
                return false
            }
            while let server = try await tasks.next() {
                if server { break }
            }
            tasks.cancelAll()
        }
    }
}

/// 404 for a halt of a fleet the control store has never seen, naming the ones it has.
func unknownFleet(_ fleet: String, known: [String]) -> APIError {
    let names = known.isEmpty ? "none" : known.joined(separator: ", ")
    return APIError(
        .notFound,
        "unknown fleet '\(fleet)'; known fleets: \(names) (\"force\": true halts it before its first rollout)",
        knownFleets: known)
}

/// Runs a handler's work; a failure of the control store becomes a 503 with a JSON error, never a stack of details.
func guarded(_ logger: Logger, _ body: () async throws -> Response) async throws -> Response {
    do {
        return try await body()
    } catch let error as APIError {
        throw error
    } catch let error as CancellationError {
        throw error
    } catch {
        let message = ControlStoreFailure.message(error)
        logger.error("control store: \(message)")
        throw APIError(.serviceUnavailable, "control store: \(message)")
    }
}
