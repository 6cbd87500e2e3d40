// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "flotilla",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "flotilla", targets: ["flotilla"]),
        .library(name: "FlotillaModel", targets: ["FlotillaModel"]),
        .library(name: "FlotillaLint", targets: ["FlotillaLint"]),
        .library(name: "FlotillaPlan", targets: ["FlotillaPlan"]),
        .library(name: "FlotillaEngine", targets: ["FlotillaEngine"]),
        .library(name: "FlotillaServer", targets: ["FlotillaServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "FlotillaModel",
            dependencies: ["FlotillaLint", "FlotillaSQL", .product(name: "Yams", package: "Yams")]
        ),
        .target(name: "FlotillaLint"),
        .target(name: "FlotillaSQL"),
        .target(name: "FlotillaPlan", dependencies: ["FlotillaModel", "FlotillaLint", "FlotillaSQL"]),
        .target(
            name: "FlotillaPostgres",
            dependencies: [
                "FlotillaSQL",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "FlotillaEngine",
            dependencies: [
                "FlotillaModel", "FlotillaPlan", "FlotillaLint", "FlotillaPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .target(
            name: "FlotillaServer",
            dependencies: [
                "FlotillaEngine", "FlotillaPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "flotilla",
            dependencies: [
                "FlotillaModel", "FlotillaLint", "FlotillaPlan", "FlotillaPostgres", "FlotillaEngine", "FlotillaServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "FlotillaTestSupport",
            dependencies: ["FlotillaPostgres", .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Tests/Support"
        ),
        .testTarget(name: "FlotillaModelTests", dependencies: ["FlotillaModel"]),
        .testTarget(name: "FlotillaLintTests", dependencies: ["FlotillaLint"]),
        .testTarget(name: "FlotillaPlanTests", dependencies: ["FlotillaPlan", "FlotillaModel"]),
        .testTarget(
            name: "FlotillaPostgresTests",
            dependencies: ["FlotillaPostgres", "FlotillaTestSupport"]
        ),
        .testTarget(
            name: "FlotillaEngineTests",
            dependencies: [
                "FlotillaEngine", "FlotillaModel", "FlotillaPlan", "FlotillaPostgres", "FlotillaTestSupport",
            ]
        ),
        .testTarget(
            name: "FlotillaServerTests",
            dependencies: [
                "FlotillaServer", "FlotillaEngine", "FlotillaPostgres", "FlotillaTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
