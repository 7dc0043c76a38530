# web_assets.cmake - embeds the dashboard (web/) into sq_server.
#
# Included from CMakeLists.txt. At build time cmake/embed.cmake turns every
# served file under web/ into a byte array in ${CMAKE_BINARY_DIR}/web_assets.c,
# which defines the table and web_asset_find() of src/server/assets.h. The
# glob is CONFIGURE_DEPENDS, so a file added to web/ is picked up on the next
# build, and an edited file regenerates the .c (it is a DEPENDS of the command).
# Plain CMake only (file(READ ... HEX)), so no xxd or other tool is needed.

file(GLOB_RECURSE SQ_WEB_FILES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/web/*.html ${CMAKE_SOURCE_DIR}/web/*.js ${CMAKE_SOURCE_DIR}/web/*.css
  ${CMAKE_SOURCE_DIR}/web/*.svg ${CMAKE_SOURCE_DIR}/web/*.png ${CMAKE_SOURCE_DIR}/web/*.ico)
list(SORT SQ_WEB_FILES)

set(SQ_WEB_C ${CMAKE_BINARY_DIR}/web_assets.c)
add_custom_command(
  OUTPUT ${SQ_WEB_C}
  COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${CMAKE_SOURCE_DIR}/web -DOUT=${SQ_WEB_C}
          "-DFILES=${SQ_WEB_FILES}" -P ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
  DEPENDS ${SQ_WEB_FILES} ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
  COMMENT "Embedding the dashboard (web/) into web_assets.c"
  VERBATIM)

# Its own small library, linked into sq_server (so it also works while
# src/server/ has no .c yet and sq_server is an INTERFACE library).
add_library(sq_web STATIC ${SQ_WEB_C})
target_include_directories(sq_web PUBLIC ${CMAKE_SOURCE_DIR}/src)
get_target_property(sq_server_type sq_server TYPE)
if(sq_server_type STREQUAL "INTERFACE_LIBRARY")
  target_link_libraries(sq_server INTERFACE sq_web)
else()
  target_link_libraries(sq_server PUBLIC sq_web)
endif()
