import FlotillaEngine
import Foundation
import Hummingbird
import PostgresNIO

/// `POST /api/halt`.
struct HaltRequest: Decodable {
    var fleet: String?
    var all: Bool?
    var reason: String?
    var by: String?
    var revert: Bool?
    /// Halt a fleet the control store has not seen yet (no rollout, no earlier halt): before its first rollout.
    var force: Bool?

    func target() throws -> String? { try Scope.target(fleet: fleet, all: all) }
}

/// `POST /api/resume`.
struct ResumeRequest: Decodable {
    var fleet: String?
    var all: Bool?
    var by: String?

    func target() throws -> String? { try Scope.target(fleet: fleet, all: all) }
}

/// `POST /api/rollouts/{id}/approve`.
struct ApproveRequest: Decodable {
    var phase: String?
}

enum Scope {
    /// The fleet a halt or resume is about (nil: every fleet); exactly one of `fleet` and `all: true` must be given.
    static func target(fleet: String?, all: Bool?) throws -> String? {
        let fleet = fleet.flatMap { $0.isEmpty ? nil : $0 }
        guard (all ?? false) != (fleet != nil) else {
            throw APIError(.badRequest, "say either \"fleet\": NAME or \"all\": true")
        }
        return fleet
    }
}

/// What a halt did: the halt as recorded, the rollouts that were running under it, which of them stopped while the
/// answer waited, and all that in a sentence (`halted (fleet demo) by oncall at …: why — 1 coordinator stopped`).
struct HaltResponse: Encodable {
    var halt: HaltRecord
    /// The rollouts that were running when the halt was recorded.
    var running: [String]
    /// Those of them that stopped before the answer (within `APIServer.haltWait`).
    var stopped: [String]
    /// How many coordinators those were (rollouts sharing a lease owner count once).
    var coordinatorsStopped: Int
    var message: String

    init(halt: HaltRecord, running: [(id: String, owner: String?)], stopped: [String]) {
        self.halt = halt
        self.running = running.map(\.id)
        self.stopped = stopped
        var owners: Set<String> = []
        for rollout in running where stopped.contains(rollout.id) { owners.insert(rollout.owner ?? rollout.id) }
        coordinatorsStopped = owners.count
        var message = halt.description
        if running.isEmpty {
            message += " — no rollout was running"
        } else {
            message += " — \(owners.count) coordinator\(owners.count == 1 ? "" : "s") stopped"
            if !stopped.isEmpty {
                message += " (rollout\(stopped.count == 1 ? "" : "s") \(stopped.joined(separator: ", ")))"
            }
            let still = self.running.filter { !stopped.contains($0) }
            if !still.isEmpty {
                message += "; still stopping: \(still.joined(separator: ", ")) (each stops at its steps' end)"
            }
        }
        self.message = message
    }

    /// Waits until each of `rollouts` has left the running state, or `limit` passes; returns those that did.
    static func waitForStop(_ rollouts: [String], store: ControlStore, limit: Duration) async throws -> [String] {
        guard !rollouts.isEmpty else { return [] }
        let deadline = ContinuousClock.now + limit
        while true {
            let stopped = try await store.stoppedRollouts(rollouts)
            if stopped.count == rollouts.count || ContinuousClock.now >= deadline { return stopped }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

struct ResumeResponse: Encodable {
    var lifted: Int
    var stillActive: [HaltRecord]
}

struct ApproveResponse: Encodable {
    var rollout: String
    var phase: String
}

/// Reads a JSON request body; an empty body is `{}` when `allowEmpty`. Anything else that does not decode is a 400
/// that says what is wrong.
func decode<T: Decodable>(_ type: T.Type, from request: Request, allowEmpty: Bool = false) async throws -> T {
    var request = request
    let buffer: ByteBuffer
    do {
        buffer = try await request.collectBody(upTo: APIServer.maxBodySize)
    } catch {
        throw APIError(.contentTooLarge, "the request body is larger than \(APIServer.maxBodySize) bytes")
    }
    var data = Data(buffer.readableBytesView)
    if data.allSatisfy({ [0x20, 0x0A, 0x0D, 0x09].contains($0) }) {
        guard allowEmpty else { throw APIError(.badRequest, "the request body must be a JSON object") }
        data = Data("{}".utf8)
    }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as DecodingError {
        throw APIError(.badRequest, "bad request body: \(describe(error))")
    } catch {
        throw APIError(.badRequest, "bad request body: not JSON")
    }
}

/// A decoding error in a sentence: which field, and what was wrong with it.
func describe(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "the body" : "\"\(keys.map(\.stringValue).joined(separator: "."))\""
    }
    switch error {
    case .typeMismatch(let type, let context):
        return "\(path(context.codingPath)) must be \(typeName(type))"
    case .valueNotFound(let type, let context):
        return "\(path(context.codingPath)) must be \(typeName(type)), not null"
    case .keyNotFound(let key, let context):
        return "\(path(context.codingPath + [key])) is missing"
    case .dataCorrupted(let context):
        return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context.codingPath)) is not valid"
    @unknown default:
        return "not valid"
    }
}

private func typeName(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: return "a string"
    case is Bool.Type: return "true or false"
    default: return type == [String: Any].self ? "an object" : "\(type)".lowercased()
    }
}

/// A short, password-free description of a failure of the control store.
enum ControlStoreFailure {
    static func message(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "unavailable"
    }
}
