//! Build script: brings the project's own AFR configuration into the library.
//!
//! Only the shipped build (feature `rtos`) needs it. It then
//! 1. runs the project's C compiler (the one `cc` picks for the target, usually
//!    set by `cmake/AfrCloud.cmake` through `CC_<target>`) over a probe that
//!    includes `FreeRTOS.h` and the project's AFR config headers followed by our
//!    defaults, and reads every value back from the generated assembly: the
//!    compiler evaluates the macros (casts, `pdMS_TO_TICKS`, `configMINIMAL_STACK_SIZE * 4`)
//!    exactly as the project's C code sees them, on the real target;
//! 2. refuses a FreeRTOS port whose type sizes differ from what freertos-rust
//!    assumes, and lists kernel options the library needs but the project lacks;
//! 3. writes `afr_config.rs` (included by `src/config.rs`);
//! 4. compiles freertos-rust's C shim against the same headers.
//!
//! Inputs (environment):
//! - `AFR_INCLUDE_DIRS`: the project's include path, `:`-separated: its config
//!   directory (FreeRTOSConfig.h, aws_*_config.h), the kernel's `include/` and
//!   the port's directory. Our `include/` is added after them.
//! - `AFR_C_DEFINES` (optional): extra `-D` definitions, `;`-separated.

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Integer values read from the project's headers: (Rust module, Rust name, Rust type, C expression).
/// A C expression of `None` probes whether the named macro is defined (1 or 0).
const VALUES: &[(&str, &str, &str, &str)] = &[
    // The port's types, checked against freertos-rust below.
    ("kernel", "SIZEOF_BASE_TYPE", "usize", "sizeof( BaseType_t )"),
    ("kernel", "SIZEOF_UBASE_TYPE", "usize", "sizeof( UBaseType_t )"),
    ("kernel", "SIZEOF_TICK_TYPE", "usize", "sizeof( TickType_t )"),
    ("kernel", "SIZEOF_POINTER", "usize", "sizeof( void * )"),
    ("kernel", "BYTE_ALIGNMENT", "usize", "portBYTE_ALIGNMENT"),
    ("kernel", "TICK_RATE_HZ", "u32", "configTICK_RATE_HZ"),
    ("kernel", "MAX_PRIORITIES", "u32", "configMAX_PRIORITIES"),
    ("kernel", "MINIMAL_STACK_SIZE", "u32", "configMINIMAL_STACK_SIZE"),
    ("kernel", "MAX_DELAY", "u32", "portMAX_DELAY"),
    ("kernel", "MAX_TASK_NAME_LEN", "usize", "configMAX_TASK_NAME_LEN"),
    // aws_mqtt_agent_config.h
    ("mqtt", "ENABLE_METRICS", "bool", "mqttconfigENABLE_METRICS"),
    ("mqtt", "KEEP_ALIVE_INTERVAL_SECONDS", "u16", "mqttconfigKEEP_ALIVE_INTERVAL_SECONDS"),
    ("mqtt", "KEEP_ALIVE_ACTUAL_INTERVAL_TICKS", "u32", "mqttconfigKEEP_ALIVE_ACTUAL_INTERVAL_TICKS"),
    ("mqtt", "KEEP_ALIVE_TIMEOUT_TICKS", "u32", "mqttconfigKEEP_ALIVE_TIMEOUT_TICKS"),
    ("mqtt", "MQTT_TASK_MAX_BLOCK_TICKS", "u32", "mqttconfigMQTT_TASK_MAX_BLOCK_TICKS"),
    ("mqtt", "MQTT_TASK_STACK_DEPTH", "u32", "mqttconfigMQTT_TASK_STACK_DEPTH"),
    ("mqtt", "MQTT_TASK_PRIORITY", "u32", "mqttconfigMQTT_TASK_PRIORITY"),
    ("mqtt", "MAX_BROKERS", "usize", "mqttconfigMAX_BROKERS"),
    ("mqtt", "MAX_PARALLEL_OPS", "usize", "mqttconfigMAX_PARALLEL_OPS"),
    ("mqtt", "TCP_SEND_TIMEOUT_MS", "u32", "mqttconfigTCP_SEND_TIMEOUT_MS"),
    ("mqtt", "RX_BUFFER_SIZE", "usize", "mqttconfigRX_BUFFER_SIZE"),
    ("mqtt", "TLS_RX_BUFFER_SIZE", "usize", "mqttconfigTLS_RX_BUFFER_SIZE"),
    ("mqtt", "TLS_TX_BUFFER_SIZE", "usize", "mqttconfigTLS_TX_BUFFER_SIZE"),
    ("mqtt", "TLS_HANDSHAKE_TIMEOUT_MS", "u32", "mqttconfigTLS_HANDSHAKE_TIMEOUT_MS"),
    ("mqtt", "TLS_STRICT_TIME", "bool", "mqttconfigTLS_STRICT_TIME"),
    ("mqtt", "TLS_BACKEND", "u32", "mqttconfigTLS_BACKEND"),
    ("mqtt", "TLS_PKCS11", "bool", "mqttconfigTLS_PKCS11"),
    // aws_mqtt_config.h
    ("mqtt", "ENABLE_DEBUG_LOGS", "bool", "mqttconfigENABLE_DEBUG_LOGS"),
    ("mqtt", "ENABLE_SUBSCRIPTION_MANAGEMENT", "bool", "mqttconfigENABLE_SUBSCRIPTION_MANAGEMENT"),
    ("mqtt", "SUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH", "usize", "mqttconfigSUBSCRIPTION_MANAGER_MAX_TOPIC_LENGTH"),
    ("mqtt", "SUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS", "usize", "mqttconfigSUBSCRIPTION_MANAGER_MAX_SUBSCRIPTIONS"),
    // aws_bufferpool_config.h
    ("pool", "NUM_BUFFERS", "usize", "bufferpoolconfigNUM_BUFFERS"),
    ("pool", "BUFFER_SIZE", "usize", "bufferpoolconfigBUFFER_SIZE"),
    // aws_shadow_config.h
    ("shadow", "JSON_JSMN_TOKENS", "usize", "shadowconfigJSON_JSMN_TOKENS"),
    ("shadow", "MAX_CLIENTS", "usize", "shadowconfigMAX_CLIENTS"),
    ("shadow", "ENABLE_DEBUG_LOGS", "bool", "shadowconfigENABLE_DEBUG_LOGS"),
    ("shadow", "MAX_THINGS_WITH_CALLBACKS", "usize", "shadowconfigMAX_THINGS_WITH_CALLBACKS"),
    ("shadow", "CLEANUP_TIME_MS", "u32", "shadowconfigCLEANUP_TIME_MS"),
];

/// String values: (Rust module, Rust name, C string-literal expression).
/// Kernel functions the library calls directly (src/platform/rtos.rs), each
/// probed under the name the project's headers give it: an MPU port's
/// `mpu_wrappers.h` maps them to their `MPU_` wrappers, which application
/// code must call.
const KERNEL_FNS: &[(&str, &str)] = &[
    ("xTaskCreate", "code: extern \"C\" fn(*mut c_void), name: *const u8, stack_depth: u32, param: *mut c_void, priority: u32, created: *mut *mut c_void) -> i32"),
    ("xTaskGetTickCount", ") -> u32"),
    ("vTaskDelay", "ticks: u32)"),
    ("vTaskSuspendAll", ")"),
    ("xTaskResumeAll", ") -> i32"),
    ("xTaskGetCurrentTaskHandle", ") -> *mut c_void"),
];

const STRINGS: &[(&str, &str, &str)] = &[
    // Function names: the agent calls whatever the project configured.
    ("mqtt", "GET_FREE_BUFFER_FXN", "AFR_STR( mqttconfigGET_FREE_BUFFER_FXN )"),
    ("mqtt", "RETURN_BUFFER_FXN", "AFR_STR( mqttconfigRETURN_BUFFER_FXN )"),
    // TLS hooks: optional; a name equal to the macro's own means "not configured".
    ("mqtt", "TLS_TIME_FXN", "AFR_STR( mqttconfigTLS_TIME_FXN )"),
    ("mqtt", "TLS_RANDOM_FXN", "AFR_STR( mqttconfigTLS_RANDOM_FXN )"),
    // The project's PKCS#11 module: the labels of the device's key and
    // certificate, and the user PIN (empty: no login).
    ("mqtt", "TLS_PKCS11_KEY_LABEL", "mqttconfigTLS_PKCS11_KEY_LABEL"),
    ("mqtt", "TLS_PKCS11_CERT_LABEL", "mqttconfigTLS_PKCS11_CERT_LABEL"),
    ("mqtt", "TLS_PKCS11_PIN", "mqttconfigTLS_PKCS11_PIN"),
    // A signing hook for a device key the library never sees.
    ("mqtt", "TLS_SIGN_FXN", "AFR_STR( mqttconfigTLS_SIGN_FXN )"),
    // The project's default roots: the name of a NUL-terminated PEM string.
    ("mqtt", "TLS_DEFAULT_ROOTS_PEM", "AFR_STR( mqttconfigTLS_DEFAULT_ROOTS_PEM )"),
    // AWS IoT's anonymous metrics user name, built as AFR v1's agent built it.
    (
        "mqtt",
        "METRICS_USER_NAME",
        "\"?SDK=AmazonFreeRTOS&Version=\" tskKERNEL_VERSION_NUMBER \"&Platform=\" configPLATFORM_NAME",
    ),
];

/// Kernel options freertos-rust's shim and our platform layer call into.
const REQUIRED_KERNEL_OPTIONS: &[&str] = &[
    "configUSE_MUTEXES",
    "configUSE_RECURSIVE_MUTEXES",
    "configUSE_COUNTING_SEMAPHORES",
    "configUSE_TIMERS",
    "configUSE_TRACE_FACILITY",
    "configSUPPORT_DYNAMIC_ALLOCATION",
    "INCLUDE_vTaskSuspend",
    "INCLUDE_vTaskDelay",
    "INCLUDE_vTaskDelete",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=include");
    println!("cargo:rerun-if-env-changed=AFR_INCLUDE_DIRS");
    println!("cargo:rerun-if-env-changed=AFR_C_DEFINES");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rustc-check-cfg=cfg(afr_subscription_management)");
    println!("cargo:rustc-check-cfg=cfg(afr_debug_logs)");
    println!("cargo:rustc-check-cfg=cfg(afr_tls_time_hook)");
    println!("cargo:rustc-check-cfg=cfg(afr_tls_random_hook)");
    println!("cargo:rustc-check-cfg=cfg(afr_tls_default_roots)");
    println!("cargo:rustc-check-cfg=cfg(afr_tls_sign_hook)");
    println!("cargo:rustc-check-cfg=cfg(afr_tls_pkcs11)");
    if env::var_os("CARGO_FEATURE_RTOS").is_none() {
        return; // The pure core (tests, fuzzing, benches) needs no C configuration.
    }
    if let Err(msg) = configure() {
        eprintln!("\nerror: {msg}\n");
        std::process::exit(1);
    }
}

fn configure() -> Result<(), String> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let dirs = include_dirs(&manifest)?;
    let defines = defines();

    let values = probe(&out, &dirs, &defines)?;
    check_port(&values)?;
    fs::write(out.join("afr_config.rs"), render(&values)).map_err(|e| e.to_string())?;
    // Struct layouts that depend on the project's config (MQTTAgentSubscribeParams_t).
    if values.ints["mqtt::ENABLE_SUBSCRIPTION_MANAGEMENT"] == 1 {
        println!("cargo:rustc-cfg=afr_subscription_management");
    }
    // Only with debug logs on does the library reference the project's vLoggingPrintf.
    if values.ints["mqtt::TLS_PKCS11"] == 1 {
        println!("cargo:rustc-cfg=afr_tls_pkcs11");
    }
    if values.ints["mqtt::ENABLE_DEBUG_LOGS"] == 1 {
        println!("cargo:rustc-cfg=afr_debug_logs");
    }
    // The TLS hooks are referenced only when the project names them.
    for (key, cfg) in [
        ("mqtt::TLS_TIME_FXN", "afr_tls_time_hook"),
        ("mqtt::TLS_RANDOM_FXN", "afr_tls_random_hook"),
        ("mqtt::TLS_DEFAULT_ROOTS_PEM", "afr_tls_default_roots"),
        ("mqtt::TLS_SIGN_FXN", "afr_tls_sign_hook"),
    ] {
        if hook_name(&values, key).is_some() {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
    build_shim(&dirs, &defines)?;
    Ok(())
}

fn include_dirs(manifest: &Path) -> Result<Vec<PathBuf>, String> {
    let raw = env::var_os("AFR_INCLUDE_DIRS").ok_or_else(|| {
        "feature `rtos` needs AFR_INCLUDE_DIRS: the project's config directory, the FreeRTOS \
         kernel's include/ and its port directory, `:`-separated. cmake/AfrCloud.cmake sets it; \
         see README.md."
            .to_string()
    })?;
    let mut dirs: Vec<PathBuf> = env::split_paths(&raw).filter(|p| !p.as_os_str().is_empty()).collect();
    for d in &dirs {
        if !d.is_dir() {
            return Err(format!("AFR_INCLUDE_DIRS names {}, which is not a directory", d.display()));
        }
    }
    dirs.push(manifest.join("include"));
    Ok(dirs)
}

fn defines() -> Vec<String> {
    env::var("AFR_C_DEFINES")
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect()
}

fn c_build(dirs: &[PathBuf], defines: &[String]) -> cc::Build {
    let mut b = cc::Build::new();
    b.includes(dirs).warnings(false);
    for d in defines {
        match d.split_once('=') {
            Some((k, v)) => b.define(k, v),
            None => b.define(d, None),
        };
    }
    b
}

/// The probe: one `asm` statement per value, whose operand the compiler prints as an
/// immediate (`$42` on x86, `#42` on ARM). Compiled with `-S` only, never assembled.
fn probe_source() -> String {
    let mut s = String::from(
        "#include \"FreeRTOS.h\"\n#include \"task.h\"\n\
         #include \"aws_mqtt_agent_config.h\"\n#include \"aws_mqtt_agent_config_defaults.h\"\n\
         #include \"aws_mqtt_config.h\"\n#include \"aws_mqtt_config_defaults.h\"\n\
         #include \"aws_bufferpool_config.h\"\n\
         #if defined( __has_include )\n#if __has_include( \"aws_shadow_config.h\" )\n#include \"aws_shadow_config.h\"\n#endif\n#endif\n\
         #include \"aws_shadow_config_defaults.h\"\n\
         #ifndef bufferpoolconfigNUM_BUFFERS\n#error \"bufferpoolconfigNUM_BUFFERS must be defined in aws_bufferpool_config.h\"\n#endif\n\
         #ifndef bufferpoolconfigBUFFER_SIZE\n#error \"bufferpoolconfigBUFFER_SIZE must be defined in aws_bufferpool_config.h\"\n#endif\n\
         #if defined( configNUMBER_OF_CORES ) && ( configNUMBER_OF_CORES > 1 )\n#error \"afr-cloud needs a single-core FreeRTOS kernel (configNUMBER_OF_CORES 1): the agent's lock is a scheduler suspension\"\n#endif\n\
         #ifndef configPLATFORM_NAME\n#define configPLATFORM_NAME \"Unknown\"\n#endif\n\
         #define AFR_STR2( x ) #x\n#define AFR_STR( x ) AFR_STR2( x )\n\
         void afr_config_probe( void )\n{\n",
    );
    for (module, name, _, expr) in VALUES {
        let _ = writeln!(
            s,
            "    __asm__ volatile ( \"\\n@AFRCFG {module}::{name} %0\\n\" :: \"i\" ( ( long long ) ( {expr} ) ) );"
        );
    }
    for opt in REQUIRED_KERNEL_OPTIONS {
        let _ = writeln!(
            s,
            "#if defined( {opt} )\n    __asm__ volatile ( \"\\n@AFRCFG opt::{opt} %0\\n\" :: \"i\" ( ( long long ) ( {opt} ) ) );\n#endif"
        );
    }
    for (module, name, expr) in STRINGS {
        let _ = writeln!(s, "    __asm__ volatile ( \"\\n@AFRSTR {module}::{name} \" {expr} \"\\n\" );");
    }
    for (name, _) in KERNEL_FNS {
        let _ = writeln!(s, "    __asm__ volatile ( \"\\n@AFRSTR kfn::{name} \" AFR_STR( {name} ) \"\\n\" );");
    }
    s.push_str("}\n");
    s
}

#[derive(Default)]
struct Values {
    ints: BTreeMap<String, i64>,
    strings: BTreeMap<String, String>,
}

fn probe(out: &Path, dirs: &[PathBuf], defines: &[String]) -> Result<Values, String> {
    let src = out.join("afr_config_probe.c");
    let asm = out.join("afr_config_probe.s");
    let dep = out.join("afr_config_probe.d");
    fs::write(&src, probe_source()).map_err(|e| e.to_string())?;

    let compiler = c_build(dirs, defines).get_compiler();
    let mut cmd: Command = compiler.to_command();
    cmd.arg("-S").arg("-MD").arg("-MF").arg(&dep).arg("-o").arg(&asm).arg(&src);
    let output = cmd.output().map_err(|e| format!("cannot run the C compiler {:?}: {e}", compiler.path()))?;
    if !output.status.success() {
        return Err(format!(
            "the C compiler could not read the project's AFR/FreeRTOS configuration:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    // Rebuild when any header the probe read changes.
    if let Ok(deps) = fs::read_to_string(&dep) {
        for path in deps.split_whitespace().filter(|w| w.ends_with(".h")) {
            println!("cargo:rerun-if-changed={path}");
        }
    }

    let text = fs::read_to_string(&asm).map_err(|e| e.to_string())?;
    let mut v = Values::default();
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("@AFRCFG ") {
            let (key, imm) = rest.split_once(' ').ok_or("malformed probe line")?;
            let digits = imm.trim().trim_start_matches(['$', '#']);
            let n: i64 = digits.parse().map_err(|_| format!("{key}: not an integer constant: {imm}"))?;
            v.ints.insert(key.to_string(), n);
        } else if let Some(rest) = line.trim_start().strip_prefix("@AFRSTR ") {
            let (key, s) = rest.split_once(' ').unwrap_or((rest, ""));
            v.strings.insert(key.to_string(), s.to_string());
        }
    }
    for (module, name, _, _) in VALUES {
        if !v.ints.contains_key(&format!("{module}::{name}")) {
            return Err(format!("probe did not report {module}::{name}"));
        }
    }
    Ok(v)
}

fn check_port(v: &Values) -> Result<(), String> {
    // freertos-rust 0.2 declares BaseType_t as i32 and UBaseType_t/TickType_t as u32.
    let target_ptr: i64 = env::var("CARGO_CFG_TARGET_POINTER_WIDTH")
        .ok()
        .and_then(|w| w.parse::<i64>().ok())
        .map_or(0, |bits| bits / 8);
    let mut wrong = Vec::new();
    for (key, want, what) in [
        ("kernel::SIZEOF_BASE_TYPE", 4, "BaseType_t"),
        ("kernel::SIZEOF_UBASE_TYPE", 4, "UBaseType_t"),
        ("kernel::SIZEOF_TICK_TYPE", 4, "TickType_t"),
        ("kernel::SIZEOF_POINTER", target_ptr, "void *"),
    ] {
        let got = v.ints[key];
        if got != want {
            wrong.push(format!("sizeof({what}) is {got} in the C port but {want} in the Rust target"));
        }
    }
    if !wrong.is_empty() {
        return Err(format!(
            "the FreeRTOS port does not match the Rust target's ABI ({}). freertos-rust needs \
             32-bit BaseType_t/UBaseType_t/TickType_t: build the POSIX simulator 32-bit \
             (gcc -m32, Rust target i686-unknown-linux-gnu) and use a 32-bit tick type.",
            wrong.join("; ")
        ));
    }
    if v.ints["mqtt::TLS_BACKEND"] == 1 && env::var_os("CARGO_FEATURE_TLS").is_none() {
        // Not an error: the library then refuses TLS connects (never plain TCP).
        println!(
            "cargo:warning=mqttconfigTLS_BACKEND is mqttagentTLS_BACKEND_LIBRARY but the library is built \
             without its TLS (FEATURES tls): TLS connects will fail"
        );
    }
    if v.ints["mqtt::TLS_BACKEND"] > 1 {
        return Err("mqttconfigTLS_BACKEND must be mqttagentTLS_BACKEND_SOCKETS_PORT (0) or mqttagentTLS_BACKEND_LIBRARY (1)".to_string());
    }
    let missing: Vec<&str> = REQUIRED_KERNEL_OPTIONS
        .iter()
        .copied()
        .filter(|o| v.ints.get(&format!("opt::{o}")).copied().unwrap_or(0) != 1)
        .collect();
    if !missing.is_empty() {
        return Err(format!("FreeRTOSConfig.h must set these to 1 for this library: {}", missing.join(", ")));
    }
    Ok(())
}

/// The build's time: `SOURCE_DATE_EPOCH` (reproducible builds), else the clock.
fn build_time() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

fn render(v: &Values) -> String {
    let mut s = String::from("// Generated by build.rs from the project's AFR configuration headers. Do not edit.\n");
    for module in ["kernel", "mqtt", "pool", "shadow"] {
        let _ = writeln!(s, "pub mod {module} {{");
        for (m, name, ty, expr) in VALUES.iter().filter(|(m, ..)| *m == module) {
            let n = v.ints[&format!("{m}::{name}")];
            let lit = match *ty {
                "bool" => (n != 0).to_string(),
                "u32" => format!("{}", n as u32),
                "u16" => format!("{}", n as u16),
                _ => n.to_string(),
            };
            let _ = writeln!(s, "    /// `{expr}`\n    pub const {name}: {ty} = {lit};");
        }
        for (m, name, expr) in STRINGS.iter().filter(|(m, ..)| *m == module) {
            let text = v.strings.get(&format!("{m}::{name}")).map(|t| unquote(t)).unwrap_or_default();
            let _ = writeln!(s, "    /// `{}`\n    pub const {name}: &str = {:?};", expr.replace('`', "'"), text);
        }
        if module == "kernel" {
            // The kernel functions, under the names the project's headers give them.
            s.push_str("    pub mod fns {\n        use core::ffi::c_void;\n        extern \"C\" {\n");
            for (name, sig) in KERNEL_FNS {
                let link = v.strings.get(&format!("kfn::{name}")).map(|t| unquote(t)).unwrap_or_else(|| name.to_string());
                // `sig` is the parameters and the closing parenthesis on.
                let _ = writeln!(s, "            #[link_name = {link:?}]\n            pub fn {name}({sig};");
            }
            s.push_str("        }\n    }\n");
        }
        if module == "mqtt" {
            // "Now" for certificate dates when the device has no clock.
            let _ = writeln!(
                s,
                "    /// When the library was built (Unix seconds; `SOURCE_DATE_EPOCH` when set).\n    pub const BUILD_UNIX_SECONDS: u64 = {};",
                build_time()
            );
            // The TLS hooks the project configured (see aws_mqtt_agent_config_defaults.h).
            s.push_str("    pub mod tls_fxn {\n        extern \"C\" {\n");
            if let Some(name) = hook_name(v, "mqtt::TLS_TIME_FXN") {
                let _ = writeln!(s, "            #[link_name = {name:?}]\n            pub fn time(pullUnixSeconds: *mut u64) -> i32;");
            }
            if let Some(name) = hook_name(v, "mqtt::TLS_RANDOM_FXN") {
                let _ = writeln!(s, "            #[link_name = {name:?}]\n            pub fn random(pucBuffer: *mut u8, xLength: usize) -> i32;");
            }
            if let Some(name) = hook_name(v, "mqtt::TLS_SIGN_FXN") {
                let _ = writeln!(
                    s,
                    "            #[link_name = {name:?}]\n            pub fn sign(usScheme: u16, pucDigest: *const u8, xDigestLength: usize, pucSignature: *mut u8, pxSignatureLength: *mut usize) -> i32;"
                );
            }
            if let Some(name) = hook_name(v, "mqtt::TLS_DEFAULT_ROOTS_PEM") {
                // The first character of the project's `const char name[]`.
                let _ = writeln!(s, "            #[link_name = {name:?}]\n            pub static DEFAULT_ROOTS_PEM: u8;");
            }
            s.push_str("        }\n    }\n");
            // The buffer functions the project configured; the agent calls them by name.
            let get = unquote(&v.strings["mqtt::GET_FREE_BUFFER_FXN"]);
            let ret = unquote(&v.strings["mqtt::RETURN_BUFFER_FXN"]);
            let _ = writeln!(
                s,
                "    pub mod buffer_fxn {{\n        extern \"C\" {{\n            #[link_name = {get:?}]\n            pub fn get_free_buffer(pulBufferLength: *mut u32) -> *mut u8;\n            #[link_name = {ret:?}]\n            pub fn return_buffer(pucBuffer: *mut u8);\n        }}\n    }}"
            );
        }
        s.push_str("}\n");
    }
    s
}

/// The function a hook macro names, or None when the project left it undefined
/// (the stringified macro is then its own name).
fn hook_name(v: &Values, key: &str) -> Option<String> {
    let name = unquote(v.strings.get(key)?);
    let macro_name = format!("mqttconfig{}", key.trim_start_matches("mqtt::"));
    (!name.is_empty() && name != macro_name && name != "NULL").then_some(name)
}

/// Strips the decoration a stringified macro may carry: `( MyFn )` -> `MyFn`.
fn unquote(s: &str) -> String {
    s.trim().trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace()).to_string()
}

fn build_shim(dirs: &[PathBuf], defines: &[String]) -> Result<(), String> {
    let shim_dir = env::var("DEP_FREERTOS_SHIM").map_err(|_| "freertos-rust did not report its shim".to_string())?;
    let shim = Path::new(&shim_dir).join("shim.c");
    println!("cargo:rerun-if-changed={}", shim.display());
    let mut b = c_build(dirs, defines);
    // The project's configASSERT may record __FILE__: the shim's is then its
    // name ("shim.c"), not a ~100-byte registry path in the image's flash.
    b.flag_if_supported(&format!("-fmacro-prefix-map={}/=", shim_dir.trim_end_matches('/')));
    b.file(&shim).try_compile("freertos_rs_shim").map_err(|e| e.to_string())?;
    // Our own kernel calls (src/platform/kernel.c), likewise with a short __FILE__.
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    let ours = manifest.join("src/platform/kernel.c");
    println!("cargo:rerun-if-changed={}", ours.display());
    let mut b = c_build(dirs, defines);
    b.flag_if_supported(&format!("-fmacro-prefix-map={}/=", manifest.join("src/platform").display()));
    b.file(&ours).try_compile("afr_kernel").map_err(|e| e.to_string())
}
