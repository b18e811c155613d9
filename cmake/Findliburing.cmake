# Findliburing: the io_uring userspace library. Defines liburing::liburing and liburing_FOUND.
#
# ringloop builds against this target, and for the static library the installed
# ringloopConfig.cmake finds it again through this same file (installed next to it), so the
# exported ringloopTargets.cmake names liburing::liburing and nothing private to ringloop's build.
# pkg-config (liburing.pc) is only a hint: without it the header and library are searched for in
# the usual places.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_LIBURING QUIET liburing)
endif()

find_path(liburing_INCLUDE_DIR NAMES liburing.h HINTS ${PC_LIBURING_INCLUDE_DIRS})
find_library(liburing_LIBRARY NAMES uring HINTS ${PC_LIBURING_LIBRARY_DIRS})
mark_as_advanced(liburing_INCLUDE_DIR liburing_LIBRARY)
if(PC_LIBURING_VERSION)
  set(liburing_VERSION "${PC_LIBURING_VERSION}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(liburing
  REQUIRED_VARS liburing_LIBRARY liburing_INCLUDE_DIR
  VERSION_VAR liburing_VERSION)

if(liburing_FOUND AND NOT TARGET liburing::liburing)
  add_library(liburing::liburing UNKNOWN IMPORTED)
  set_target_properties(liburing::liburing PROPERTIES
    IMPORTED_LOCATION "${liburing_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${liburing_INCLUDE_DIR}")
endif()
