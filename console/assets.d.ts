// Style sheets the bundle imports: esbuild writes them to public/console/console.css.
declare module "*.css";
